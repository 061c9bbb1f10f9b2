"""The CLI reference (``docs/cli-reference.md``), generated from the commands themselves so it
cannot drift from them: ``python -m kube9_store.cli.reference > docs/cli-reference.md``. A test
regenerates it and compares."""

from __future__ import annotations

from collections.abc import Iterator

import click

#: Help is rendered at one fixed width, so the reference does not depend on the terminal.
WIDTH = 100

HEADER = """# CLI reference

Generated from the commands' own help by `python -m kube9_store.cli.reference >
docs/cli-reference.md` (a test fails when this file and the commands disagree). Exit codes and
output formats are described in [cli.md](cli.md).
"""


def _walk(
    command: click.Command, path: list[str], parent: click.Context | None
) -> Iterator[tuple[list[str], click.Context]]:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=path[-1], parent=parent, **settings)
    yield path, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, [*path, name], ctx)


def render(root: click.Command, prog_name: str = "kube9-store") -> str:
    """Every command's ``--help``, in the order a reader meets them, as one Markdown page."""
    parts = [HEADER]
    for path, ctx in _walk(root, [prog_name], None):
        title = " ".join(path)
        parts.append(f"\n## `{title}`\n\n```text\n{ctx.get_help().rstrip()}\n```\n")
    return "".join(parts)


def main() -> None:
    from kube9_store.cli import cli

    click.echo(render(cli), nl=False)


if __name__ == "__main__":
    main()
