"""Type-check the documentation's Python examples as a user's code: ``mypy --strict`` on each
block, once with mypy's defaults and once with pydantic's mypy plugin (both are common set-ups).

    python .ci/readme_types.py [README.md docs/*.md]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "plain": "[mypy]\nstrict = True\n",
    "pydantic plugin": "[mypy]\nstrict = True\nplugins = pydantic.mypy\n",
}


def main() -> int:
    top = Path(__file__).parent.parent
    pages = [Path(a) for a in sys.argv[1:]] or [top / "README.md", *sorted(top.glob("docs/*.md"))]
    blocks = [
        block
        for page in pages
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    ]
    if not blocks:
        print(f"{', '.join(map(str, pages))}: no Python examples found", file=sys.stderr)
        return 1
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = []
        for i, block in enumerate(blocks):
            path = work / f"readme_example_{i}.py"
            path.write_text(block, encoding="utf-8")
            files.append(str(path))
        for name, config in CONFIGS.items():
            ini = work / f"{name.replace(' ', '_')}.ini"
            ini.write_text(config, encoding="utf-8")
            cmd = [sys.executable, "-m", "mypy", "--config-file", str(ini), *files]
            result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"documented examples ({len(files)} blocks), mypy --strict, {name}: {status}")
            if result.returncode != 0:
                failed = True
                print(result.stdout + result.stderr, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
