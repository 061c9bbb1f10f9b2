"""Credentials inside text, whatever key holds the text: found by shape and replaced in place,
so the words around them stay.

Shapes, each a rule name reported on redaction:

- ``private_key``: PEM blocks of every kind (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... PRIVATE
  KEY [BLOCK]) to their END line or, when cut off, to the end of the text; the same block
  base64-encoded (as in a Kubernetes Secret's data; a base64 certificate is kept); PuTTY key
  files; age secret keys.
- ``jwt``: JSON Web Tokens (and JWE), by their base64url ``{"`` header.
- ``provider_token``: the published formats in ``PROVIDER_TOKENS`` (cloud, source hosting,
  chat, payment, observability) and Kubernetes bootstrap tokens.
- ``url_password``: the password of a URL's userinfo (``postgres://user:PASSWORD@host``), or
  a token as its user (``https://TOKEN@github.com/``: 20+ characters mixing letters and
  digits, or 32+).
- ``authorization``: what follows an authorization scheme, in any case: ``Bearer``, ``Token``,
  ``ApiKey`` ... when a credential-shaped word follows (16+ characters, or 8+ mixing letters
  and digits; 24+ mixing them after ``Bot``, which a bot's own name follows too), ``Basic``
  when valid base64 of ``user:password`` follows, ``Digest`` parameters carrying a
  ``response``.
- ``kubernetes_secret``: the data of a YAML ``kind: Secret`` in a text.
- ``name_value_pair``: XML elements of a secret name (``<password>...</password>``, CDATA
  too) or whose ``key``/``name`` attribute names one, a tag's ``value`` attribute beside
  such an attribute (``<add key="DbPassword" value="..."/>``), and a ``name``/``key`` then
  ``value`` pair in YAML, Go prints and ``name=... value=...`` text.
- ``assignment``: the value of a secret-named key written into text: ``password=...``,
  ``Pwd={...};``, ``"apiKey": "..."`` (blanks before the colon too), ``--password ...``,
  ``"password"=>"..."``, ``password := "..."``, ``$config['password'] = ...``, a Go field
  (``{User:app Password:...}``, ``map[X-Api-Key:[...]]``), a hyphenated header name anywhere
  (``Ocp-Apim-Subscription-Key: ...``), a line (or a ``{ , ; ( [ & ? |``-separated part)
  that begins ``password: ...`` or ``Authorization: ...``, to the end of that line (of a
  flow mapping's entry, to its ``,`` or ``}``) unless a sentence follows; query parameters
  (``?token=``, and ``code``, ``key``, ``sig`` ... in ``QUERY_SECRETS``); ``.netrc``
  passwords. A number under a plural name (``tokens: 1200``) is a count, and kept.

Scanning is two-staged, for speed: a prefilter (RE2, one linear pass over all the strings of
an event) looks for what every shape above must contain; only the strings it flags are scanned,
and only with the steps its matching patterns call for (``PREFILTER_GROUPS``). Every pattern
is bounded, and every step reads each character a bounded number of times: the scan of
hostile text is linear.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Sequence

import re2

from kube9_store.secrets.keys import KEY_STEMS, counts_secrets, fold, is_secret_key

REDACTED = "[REDACTED]"

PRIVATE_KEY = "private_key"
JWT = "jwt"
PROVIDER_TOKEN = "provider_token"
URL_PASSWORD = "url_password"
AUTHORIZATION = "authorization"
ASSIGNMENT = "assignment"
NAME_VALUE_PAIR = "name_value_pair"
KUBERNETES_SECRET = "kubernetes_secret"
TEXT_RULES = (
    PRIVATE_KEY,
    JWT,
    PROVIDER_TOKEN,
    URL_PASSWORD,
    AUTHORIZATION,
    ASSIGNMENT,
    NAME_VALUE_PAIR,
    KUBERNETES_SECRET,
)

#: Provider token formats, (name, pattern). Bodies are bounded (1024) so that hostile input
#: cannot make a scan quadratic; no real token comes near that length.
PROVIDER_TOKENS: tuple[tuple[str, str], ...] = (
    ("AWS access key id", r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])"),
    ("GitHub token", r"gh[pousr]_[A-Za-z0-9]{36,255}"),
    ("GitHub fine-grained token", r"github_pat_[A-Za-z0-9_]{22,255}"),
    (
        "GitLab token",
        r"gl(?:pat|dt|rt|ptt|soat|cbt|ft|imt|oas|agent|ffct)-[A-Za-z0-9_-]{20,1024}",
    ),
    ("GitLab runner registration token", r"GR1348941[A-Za-z0-9_-]{20,1024}"),
    ("Slack token", r"xox[abposre]-[A-Za-z0-9-]{10,1024}"),
    ("Slack app token", r"xapp-\d-[A-Za-z0-9-]{10,1024}"),
    (
        "Slack webhook",
        r"(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]{1,1024}",
    ),
    ("Discord webhook", r"(?<=/api/webhooks/)[0-9]{1,32}/[A-Za-z0-9_-]{1,1024}"),
    (
        "Microsoft Teams webhook",
        r"(?<=webhook\.office\.com/)webhookb2/[A-Za-z0-9@/_.-]{1,1024}"
        r"|(?<=outlook\.office\.com/)webhook/[A-Za-z0-9@/_.-]{1,1024}",
    ),
    ("Discord bot token", r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}"),
    ("Telegram bot token", r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
    ("Stripe secret key", r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,1024}"),
    ("Stripe webhook secret", r"whsec_[A-Za-z0-9+/=]{24,1024}"),
    ("Google API key", r"AIza[0-9A-Za-z_-]{35}"),
    ("Google OAuth access token", r"ya29\.[0-9A-Za-z_-]{20,2048}"),
    ("Google OAuth client secret", r"GOCSPX-[0-9A-Za-z_-]{20,1024}"),
    ("Google OAuth refresh token", r"1//0[0-9A-Za-z_-]{40,1024}"),
    (
        "OpenAI/Anthropic key",
        r"sk-(?:proj-|svcacct-|admin-|ant-[a-z]{1,8}\d{0,4}-)?[A-Za-z0-9_-]{20,1024}",
    ),
    ("Hugging Face token", r"hf_[A-Za-z0-9]{30,1024}"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI token", r"pypi-AgE[A-Za-z0-9_-]{50,1024}"),
    ("SendGrid key", r"SG\.[A-Za-z0-9_-]{16,128}\.[A-Za-z0-9_-]{16,128}"),
    ("Twilio API key", r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
    ("Mailgun key", r"key-[0-9a-f]{32}(?![A-Za-z0-9])"),
    ("Mailchimp key", r"[0-9a-f]{32}-us[0-9]{1,2}(?![A-Za-z0-9])"),
    ("Square token", r"sq0(?:atp|csp)-[0-9A-Za-z_-]{22,1024}"),
    ("Square/Meta access token", r"EAA[A-Za-z0-9]{60,1024}"),
    ("Shopify token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("DigitalOcean token", r"do[opr]_v1_[a-f0-9]{64}"),
    ("Vault token", r"hv[sbr]\.[A-Za-z0-9_-]{24,1024}"),
    ("Databricks token", r"dapi[a-f0-9]{32}(?:-\d)?"),
    ("Grafana service account token", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("Grafana cloud token", r"glc_[A-Za-z0-9+/]{32,1024}={0,2}"),
    ("New Relic key", r"NRAK-[A-Z0-9]{27}"),
    ("Linear key", r"lin_api_[A-Za-z0-9]{40}"),
    ("Postman key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("Pulumi token", r"pul-[a-f0-9]{40}"),
    ("Doppler token", r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,1024}"),
    ("Terraform Cloud token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,1024}"),
    ("Dynatrace token", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    ("Atlassian token", r"ATATT3[A-Za-z0-9_=-]{100,1024}"),
    ("Artifactory key", r"AKCp[A-Za-z0-9]{60,1024}"),
    ("Azure AD client secret", r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}"),
    ("Heroku key", r"HRKU-[A-Za-z0-9_-]{60,1024}"),
    ("Sentry token", r"sntry[su]_[A-Za-z0-9+/=_-]{40,1024}"),
    ("Docker Hub token", r"dckr_pat_[A-Za-z0-9_-]{20,1024}"),
    ("Fly.io token", r"fo1_[A-Za-z0-9_-]{40,1024}"),
    ("Alibaba access key id", r"LTAI[A-Za-z0-9]{20}(?![A-Za-z0-9])"),
    ("Clojars token", r"CLOJARS_[a-z0-9]{60}"),
    ("Duffel token", r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}"),
    ("EasyPost key", r"EZ[AT]K[A-Za-z0-9]{54}"),
    ("Flutterwave key", r"FLW(?:SEC|PUB)K(?:_TEST)?-[a-hA-H0-9]{32}-X"),
    ("Frame.io token", r"fio-u-[A-Za-z0-9_=-]{64}"),
    ("Harness token", r"pat\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"),
    ("Infracost key", r"ico-[A-Za-z0-9]{32}"),
    ("Mapbox secret token", r"sk\.eyJ[A-Za-z0-9_-]{20,1024}\.[A-Za-z0-9_-]{20,1024}"),
    ("New Relic insert/browser key", r"NRII-[A-Za-z0-9_-]{32}|NRJS-[a-f0-9]{19}"),
    ("1Password service account token", r"ops_eyJ[A-Za-z0-9+/]{100,4096}={0,3}"),
    ("OpenShift OAuth token", r"sha256~[A-Za-z0-9_-]{43}"),
    (
        "Plaid token",
        r"access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
        r"-[0-9a-f]{4}-[0-9a-f]{12}",
    ),
    ("PlanetScale token", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9=._-]{32,64}"),
    ("Prefect key", r"pnu_[A-Za-z0-9]{36}"),
    ("ReadMe key", r"rdme_[a-z0-9]{70}"),
    ("RubyGems key", r"rubygems_[a-f0-9]{48}"),
    ("Scalingo token", r"tk-us-[A-Za-z0-9_-]{48}"),
    ("Brevo key", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("Shippo token", r"shippo_(?:live|test)_[a-f0-9]{40}"),
    ("Typeform token", r"tfp_[A-Za-z0-9_.=-]{59}"),
    ("Cloudflare origin CA key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    ("Octopus Deploy key", r"API-[A-Z0-9]{26}(?![A-Za-z0-9])"),
    ("Notion token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}(?![A-Za-z0-9])"),
    ("Groq key", r"gsk_[A-Za-z0-9]{52}"),
    ("Replicate token", r"r8_[A-Za-z0-9]{37}"),
    (
        "Tailscale key",
        r"tskey-(?:auth|api|client|webhook|scim)-[A-Za-z0-9]{6,64}-[A-Za-z0-9]{20,128}",
    ),
    ("Supabase token", r"sbp_[a-f0-9]{40}"),
    ("Netlify token", r"nfp_[A-Za-z0-9]{36}"),
    ("Buildkite token", r"bkua_[a-f0-9]{40}"),
    ("Perplexity key", r"pplx-[A-Za-z0-9]{48}"),
    ("xAI key", r"xai-[A-Za-z0-9]{80}"),
    ("LangSmith key", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    ("Yandex key", r"AQVN[A-Za-z0-9_-]{35,38}|YC[A-Za-z0-9_-]{38}(?![A-Za-z0-9_-])"),
    ("Intra42 secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}"),
    ("Kubernetes bootstrap token", r"[a-z0-9]{6}\.(?=[a-z]{0,15}[0-9])[a-z0-9]{16}(?![A-Za-z0-9])"),
)

_STEMS = "|".join(KEY_STEMS)
_SCHEMES = "bearer|token|apikey|api-key|ssws|splunk|geniekey|oauth|jwt|negotiate|ntlm"
#: Each prefilter pattern's group: the steps of the full scan (below) that a match of it
#: calls for. A step runs on a flagged text only when one of its groups matched there.
_G_PK, _G_JW, _G_PT, _G_URL, _G_AUTH, _G_QS = "key", "jwt", "token", "url", "auth", "query"
_G_YAML, _G_XMLE, _G_XMLA, _G_PAIRS, _G_NETRC, _G_ASSIGN = (
    "yaml",
    "xml",
    "xmlattr",
    "pairs",
    "netrc",
    "assign",
)
_G_ALL = frozenset(
    {
        _G_PK,
        _G_JW,
        _G_PT,
        _G_URL,
        _G_AUTH,
        _G_QS,
        _G_YAML,
        _G_XMLE,
        _G_XMLA,
        _G_PAIRS,
        _G_NETRC,
        _G_ASSIGN,
    }
)
PREFILTER_GROUPS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({_G_PK}), (
        r"-{3} ?BEGIN", r"PuTTY-User-Key-File-", r"AGE-SECRET-KEY-1", r"LS0tLS1CRUdJTi",
    )),
    (frozenset({_G_JW}), (r"eyJ[A-Za-z0-9_-]{8}",)),
    (frozenset({_G_PT}), (
        r"AKIA|ASIA|ABIA|ACCA|A3T", r"gh[pousr]_|github_pat_|gl[a-z]{1,5}-|GR1348941",
        r"xox[a-z]-|xapp-|hooks\.slack\.com/|/api/webhooks/",
        r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.", r"[0-9]{8}:AA",
        r"[sr]k_(?:live|test)_|whsec_|AIza|ya29\.|GOCSPX-|1//0|sk-|hf_|npm_|pypi-AgE|SG\.",
        r"SK[0-9a-fA-F]{32}|key-[0-9a-f]{32}|-us[0-9]|sq0(?:atp|csp)-|EAA",
        r"shp(?:at|ca|pa|ss)_|do[opr]_v1_|hv[sbr]\.|dapi[a-f0-9]|glsa_|glc_|NRAK-|lin_api_",
        r"PMAK-|pul-|dp\.|\.atlasv1\.|dt0c01\.|ATATT3|AKCp|Q~|HRKU-|sntry[su]_|dckr_pat_|fo1_",
        r"[a-z0-9]{6}\.[a-z0-9]{16}", r"webhook\.office\.com/|outlook\.office\.com/webhook",
        r"LTAI|CLOJARS_|duffel_|EZ[AT]K|FLW(?:SEC|PUB)K|fio-u-|pat\.|ico-|sk\.eyJ|NRII-|NRJS-",
        r"ops_eyJ|sha256~|access-(?:sandbox|development|production)-|pscale_|pnu_|rdme_",
        r"rubygems_|tk-us-|xkeysib-|shippo_|tfp_|v1\.0-|API-|ntn_|secret_|gsk_|r8_|tskey-",
        r"sbp_|nfp_|bkua_|pplx-|xai-|lsv2_|AQVN|YC[A-Za-z0-9_-]{38}|s-s4t2",
    )),
    # URL userinfo with a password, or a token as the user
    (frozenset({_G_URL}), (r"://[^\s/?#@:\x00]*:[^\s/\x00]*@", r"://[^\s/?#@:\x00]{16,}@")),
    # credentials that only a query string's parameter names (?code=, &key=)
    (frozenset({_G_QS}), (r"(?i)[?&;](?:code|key|sig|signature|ticket|x-[a-z]+-signature)=",)),
    # .netrc: machine host login user password secret
    (frozenset({_G_NETRC}), (
        r"(?i)(?:machine|default)[ \t][^\x00]*(?:password|passwd|account)[ \t]+\S",
    )),
    # XML elements: <password>
    (frozenset({_G_XMLE}), (rf"(?i)<[\w.:-]*(?:{_STEMS})[\w.:-]*[ \t>]",)),
    # name/value pairs in YAML, XML and Go prints, .NET's <add key="DbPassword" value="...">
    (frozenset({_G_PAIRS, _G_XMLA, _G_XMLE}), (
        rf"(?i)(?:name|key)[\\\"']*\s*[:=]\s*[\\\"']*[^\s\x00\"'\\]*(?:{_STEMS})",
    )),
    # a Kubernetes Secret in YAML
    (frozenset({_G_YAML}), (r"kind[\\\"']*[ \t]*:[ \t]*[\\\"']*Secret",)),
    # authorization schemes followed by something
    (frozenset({_G_AUTH}), (
        rf"(?i)(?:{_SCHEMES}|bot|basic)[ \t]+[A-Za-z0-9\-._~+/]", r"(?i)digest[ \t]",
    )),
    # a secret-named key followed by = or : (quoted or not), or a secret-named --flag
    (frozenset({_G_ASSIGN, _G_QS}), (rf"(?i)(?:{_STEMS})[^\s\x00\"'=:]*[\"']?\]?[ \t]*[=:]",)),
    (frozenset({_G_ASSIGN}), (rf"(?i)--[^\s\x00]*(?:{_STEMS})",)),
    # JSON text: a secret-named pair, a Kubernetes Secret (parsed as JSON first)
    (frozenset({_G_PAIRS}), (rf"(?i)\"(?:name|key)\"\s*:\s*\"[^\"\x00]*(?:{_STEMS})",)),
    (frozenset(), (r"\"kind\"\s*:\s*\"Secret\"",)),
    # JSON text (its escapes, \\u0070assword, could hide a name): always parsed, as is a
    # string holding such an escape anywhere (JSON inside a sentence)
    (frozenset(), (r"(?:^|\x00)[{\[]", r"\\u[0-9A-Fa-f]{4}")),
    # characters that folding drops (they could hide any of the above): scanned in full
    (_G_ALL, (r"[\p{Cf}\x01-\x08\x0b\x0c\x0e-\x1f\x7f]",)),
)  # fmt: skip
#: What each shape must contain, for the prefilter (RE2 syntax: no look-around). Each entry
#: is a superset of the full patterns below; a test runs both on the corpus and on generated
#: text to hold them to that.
PREFILTER_PATTERNS = tuple(p for _, patterns in PREFILTER_GROUPS for p in patterns)
_PATTERN_STEPS = tuple(steps for steps, patterns in PREFILTER_GROUPS for _ in patterns)


def _compile_prefilter() -> re2.Set:
    options = re2.Options()
    options.never_capture = True
    found = re2.Set.SearchSet(options)
    for pattern in PREFILTER_PATTERNS:
        found.Add(pattern)
    found.Compile()
    return found


_PREFILTER = _compile_prefilter()


def _prefilter_hits(text: str) -> bool:
    return _PREFILTER.Match(text.encode("utf-8", "surrogatepass")) is not None


def might_hold_secret(text: str) -> bool:
    """The prefilter: False means that no shape above is in ``text`` (nor in its folded form:
    text holding characters that folding drops is always flagged, and other text is also
    looked at in NFKC and case-folded, for full-width letters and ``ß``)."""
    # _prefilter_hits, written out: this runs on every record
    if _PREFILTER.Match(text.encode("utf-8", "surrogatepass")) is not None:
        return True
    if text.isascii():
        return False
    normal = unicodedata.normalize("NFKC", text)
    folded = normal.casefold()
    if normal == text:
        return folded != text and _prefilter_hits(folded)
    return _prefilter_hits(f"{normal}\x00{folded}")  # one pass over both forms


def flagged(texts: Sequence[str]) -> list[int]:
    """Indices of the ``texts`` the prefilter flags, after one pass over all of them in the
    common case that none is flagged."""
    if not texts or not might_hold_secret("\x00".join(texts)):
        return []
    return [i for i, t in enumerate(texts) if might_hold_secret(t)]


def scrub_text(text: str, *, prefilter: bool = True) -> tuple[str, tuple[str, ...]]:
    """``text`` with every credential replaced by ``[REDACTED]``, and the rules that fired (in
    ``TEXT_RULES`` order; empty when ``text`` comes back unchanged).

    Text that holds a credential only once folded (NFKC, invisible characters dropped) is
    returned folded. With the prefilter, only the steps whose prefilter groups match run;
    ``prefilter=False`` runs every step on every text (the tests use it to hold the
    prefilter to being a superset).
    """
    folded = fold(text)
    if folded != text or not text.isascii():
        if prefilter and not might_hold_secret(text):
            return text, ()
        if folded != text:
            out, rules = _scrub(folded, _G_ALL)
            if rules:
                return out, rules
        return _scrub(text, _G_ALL)
    if not prefilter:
        return _scrub(text, _G_ALL)
    groups = _groups(text)  # the prefilter, and which steps it calls for
    return _scrub(text, groups) if groups else (text, ())


def _groups(text: str) -> frozenset[str]:
    """The steps an ASCII text calls for: the groups of the prefilter patterns it matches."""
    hits: list[int] | None = _PREFILTER.Match(text.encode())
    if not hits:
        return frozenset()
    if len(hits) == 1:
        return _PATTERN_STEPS[hits[0]]
    return frozenset[str]().union(*(_PATTERN_STEPS[i] for i in hits))


def _scrub(text: str, groups: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    rules: list[str] = []
    for rule, group, step in _STEPS:
        if group not in groups:
            continue
        after = step(text)
        if after != text:
            if rule not in rules:
                rules.append(rule)
            text = after
    return text, tuple(rules)


# -- the full patterns -------------------------------------------------------------------------

_PEM = r"-{3,8} ?%s (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)? ?-{3,8}"
_PRIVATE_KEY = re.compile(
    rf"{_PEM % 'BEGIN'}(?:.*?{_PEM % 'END'}|.*)"
    r"|PuTTY-User-Key-File-\d{1,3}:.*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)"
    r"|(?<![A-Za-z0-9])AGE-SECRET-KEY-1[0-9A-Z]{58}"
    r"|(?P<b64pem>LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2})",
    re.DOTALL,
)
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+"
    r"(?:\.[A-Za-z0-9_-]*+){0,2}"
)
_PROVIDER = re.compile(
    r"(?<![A-Za-z0-9])(?:" + "|".join(f"(?:{p})" for _, p in PROVIDER_TOKENS) + ")"
)
_URL_PASSWORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/?#@:\x00]{0,256}:(?P<pw>[^\s/\x00]{0,1024})@"
)
_BEARER = re.compile(rf"(?<![\w-])(?i:{_SCHEMES})[ \t]+(?P<cred>[A-Za-z0-9\-._~+/]++=*)")
#: ``Bot`` followed by a bot's own name (``Bot deploybot42``) is prose: its credential is longer.
_BOT = re.compile(r"(?<![\w-])(?i:bot)[ \t]+(?P<cred>[A-Za-z0-9\-._~+/]++=*)")
_BASIC = re.compile(r"(?<![\w-])(?i:basic)[ \t]+(?P<cred>[A-Za-z0-9+/]++={0,2})(?![\w+/=-])")
_DIGEST = re.compile(r"(?<![\w-])(?i:digest)[ \t]+")
_DIGEST_REACH = 2048  # how far after "Digest" its response= parameter is looked for
_ASSIGNMENT = re.compile(
    r"(?<![\w.-])(?:--(?P<flag>[A-Za-z][\w.-]{0,63})(?:[ \t]+|=)"
    r"|(?P<key>[A-Za-z_][\w.-]{0,63})(?P<q>\\{0,3}[\"']\]?)?"
    r"(?P<sep>[ \t]*=>[ \t]*|[ \t]*:?=(?!=)[ \t]*|[ \t]*:(?!//)[ \t]*))"
)
#: A token as a URL's user (``https://TOKEN@github.com/``): kept unless credential-shaped.
_URL_USER = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]{0,31}://(?P<user>[^\s/?#@:\x00]{16,256})(?::[^\s/@\x00]{0,1024})?@"
)
#: A query string's parameter (``?code=...&``, ``&sig=...``).
_QUERY = re.compile(r"[?&;](?P<name>[A-Za-z_][\w.\-\[\]]{0,63})=(?P<value>[^&#\s\"'<>\\]{1,4096})")
#: Parameter names that hold a credential in a URL though they name none elsewhere: OAuth's
#: ``code``, Google's ``key``, Azure SAS ``sig``, signed URLs' signatures, CAS ``ticket``.
QUERY_SECRETS = frozenset(
    {"code", "key", "sig", "signature", "ticket", "x-amz-signature", "x-goog-signature",
     "x-amz-security-token", "sas", "hash"}
)  # fmt: skip
#: ``.netrc``: ``machine HOST login USER password SECRET`` (on one line or several).
_NETRC_CONTEXT = re.compile(r"(?i)(?<![\w-])(?:machine|default)[ \t]+\S")
_NETRC = re.compile(r"(?i)(?<![\w-])(?:password|passwd|account)[ \t]+(?P<pw>[^\s]{1,1024})")
#: An XML element of a secret name: ``<password>...</password>`` (namespaces allowed).
_XML = re.compile(
    r"<(?P<tag>[A-Za-z_][\w.:-]{0,63})(?P<attrs>[ \t\r\n][^<>]{0,1024})?>"
    r"(?P<value>[^<]{1,4096}|<!\[CDATA\[[^\]]{0,4096}\]\]>)</(?P=tag)[ \t]*>"
)
_XML_TAG = re.compile(r"<[A-Za-z_][\w.:-]{0,63}[ \t\r\n][^<>]{0,2048}>")
_XML_VALUE = re.compile(
    r"(?P<head>(?<![\w-])value[ \t]*=[ \t]*(?P<q>[\"']))(?P<value>[^\"'<>]{1,4096})(?P=q)"
)
_XML_NAME = re.compile(r"(?:key|name)[ \t]*=[ \t]*[\"'](?P<name>[^\"'<>]{1,128})[\"']")
#: A name/value pair in text: .NET ``<add key="DbPassword" value="..."/>``, YAML ``- name:
#: DB_PASSWORD`` then ``value: ...``, Go's ``{Name:TOKEN Value:...}``, ``name=... value=...``.
_PAIR = re.compile(
    r"(?<![\w-])[\"']?(?:name|Name|NAME|key|Key|KEY)[\"']?[ \t]*[:=][ \t]*(?P<q>[\"']?)"
    r"(?P<name>[\w.-]{1,128})(?P=q)(?P<gap>[ \t]*[,;]?[ \t]*(?:\r?\n[ \t-]{0,64})?)"
    r"[\"']?(?:value|Value|VALUE)[\"']?[ \t]*[:=][ \t]*"
)
#: A Kubernetes Secret in YAML text: ``kind: Secret`` anywhere, and its data blocks.
_YAML_SECRET = re.compile(r"(?m)^[ \t-]*kind:[ \t]*[\"']?Secret[\"']?[ \t]*\r?$")
_YAML_DATA = re.compile(r"^(?P<indent>[ \t-]*)(?:data|stringData|binaryData):[ \t]*(?P<rest>.*)$")
_YAML_ENTRY = re.compile(r"^(?P<head>[ \t-]*[^:\s][^:]*:)(?P<value>[ \t]*\S.*)$")
#: How far a value is read (a line, a quoted string): no credential comes near it, and the
#: bound keeps a text of many rejected candidates (sentences after ``password:``) linear.
VALUE_MAX = 4096
_PART_STARTS = frozenset("\n\r{,;([&?|")
#: Before a Go ``%+v`` field (``{User:app Password:x}``) or a map print's key.
_FIELD_STARTS = frozenset(" \t{[(")
#: Words that make a value written after ``password:`` a sentence about it, not the secret
#: (``Password: must be at least 12 characters``).
_PROSE_WORDS = frozenset(
    {"must", "be", "is", "are", "was", "were", "has", "have", "been", "should", "cannot",
     "can", "not", "at", "least", "the", "a", "an", "of", "to", "for", "with", "and", "or",
     "characters", "required", "invalid", "expired", "too", "does", "did", "will", "contain",
     "contains", "match", "matches", "changed", "updated", "reset", "set", "from", "in"}
)  # fmt: skip
_VALUE_ENDS = frozenset(" \t\r\n;,&\"'<>(){}[]\x00")
_NOT_SECRET_VALUES = frozenset({"true", "false", "null", "none", "nil"})


def _private_keys(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        blob = m.group("b64pem")
        if blob is not None and not _b64_private_key(blob):
            return m.group(0)  # a certificate or another public PEM block
        return REDACTED

    return _PRIVATE_KEY.sub(one, text)


def _b64_private_key(blob: str) -> bool:
    """Whether base64 text opens a PEM private key (its first line is within 72 bytes)."""
    head = blob[:96]
    head = head[: len(head) // 4 * 4]
    try:
        return b"PRIVATE KEY" in base64.b64decode(head)
    except (binascii.Error, ValueError):
        return True  # a PEM header that does not decode cleanly: treated as a key


def _replace_group(
    pattern: re.Pattern[str], group: str, keep: Callable[[str], bool]
) -> Callable[[str], str]:
    """A step that replaces ``group`` of each match (the rest stays) unless ``keep(group)``."""

    def one(m: re.Match[str]) -> str:
        value = m.group(group)
        if not value or value.startswith(REDACTED) or keep(value):
            return m.group(0)
        whole, offset = m.group(0), m.start()
        return whole[: m.start(group) - offset] + REDACTED + whole[m.end(group) - offset :]

    return lambda text: pattern.sub(one, text)


def _digests(text: str) -> str:
    """``Digest`` parameters carrying a ``response=``, to the end of their line. One search
    for the next ``response=`` serves every ``Digest`` before it, so the scan is linear."""
    if "response=" not in text:
        return text
    out: list[str] = []
    pos, response = 0, -1
    for m in _DIGEST.finditer(text):
        start = m.end()
        if start < pos or text.startswith(REDACTED, start):
            continue
        if response < start:
            response = text.find("response=", start)
            if response < 0:
                break
        if response - start > _DIGEST_REACH or text.find("\n", start, response) >= 0:
            continue
        end = text.find("\n", response)
        end = len(text) if end < 0 else end
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _not_credential_shaped(word: str) -> bool:
    """A credential after Bearer/Token/...: 16+ characters, or 8+ mixing letters and digits."""
    if len(word) >= 16:
        return False
    return not (
        len(word) >= 8 and any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    )


def _not_bot_credential(word: str) -> bool:
    """A bot token (Discord's, 59+ characters, is also a provider shape): 24+ characters
    mixing letters and digits."""
    return not (
        len(word) >= 24 and any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    )


def _not_basic_credentials(word: str) -> bool:
    """Basic credentials are base64 of ``user:password``."""
    try:
        decoded = base64.b64decode(word, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return True
    return ":" not in decoded or not decoded.isprintable()


def _assignments(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _ASSIGNMENT.finditer(text):
        if m.start() < pos:
            continue  # inside a value already replaced
        span = _assigned_value(text, m)
        if span is None:
            continue
        out.append(text[pos : span[0]])
        out.append(REDACTED)
        pos = span[1]
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _assigned_value(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The span of the value given to a secret-named key at ``m``, or None."""
    flag = m.group("flag")
    if flag is not None:
        if not is_secret_key(flag) or text.startswith("-", m.end()):
            return None  # not a secret, or the next flag rather than a value
        return _value_span(text, m.end(), line=False, structured=False)
    key = m.group("key")
    if not is_secret_key(key):
        return None
    sep = m.group("sep")
    if "=" in sep:
        span = _value_span(text, m.end(), line=False, structured=">" in sep)
    elif m.group("q"):  # "key": value, as JSON writes it (escaped or not)
        if sep[0] in " \t" and not text.startswith(('"', "'", "\\"), m.end()):
            return None  # volume "db-credentials" : secret ... is kubelet's prose
        span = _value_span(text, m.end(), line=False, structured=True)
    elif sep == ":" and (m.start() == 0 or text[m.start() - 1] in _FIELD_STARTS):
        if text.startswith("[", m.end()):  # Go's http.Header: map[X-Api-Key:[value]]
            close = text.find("]", m.end(), m.end() + VALUE_MAX)
            span = None if close < 0 else (m.end() + 1, close)
        elif key.isidentifier():  # {User:a Password:b}, map[password:b]: to the next blank
            span = _value_span(text, m.end(), line=False, structured=True)
        else:
            return None  # an image reference (token-service:1.2), not a Go field
    elif _starts_a_part(text, m.start()):
        span = _value_span(text, m.end(), line=True, structured=True)
        if span is not None and _part_char(text, m.start()) in "{,([":
            span = _in_flow(text, span)  # {user: app, password: x} ends at , or }
    elif "-" in key and sep == ": ":
        span = _value_span(text, m.end(), line=False, structured=True)  # a header, mid-text
    else:
        return None  # "failed to refresh token: ..." is a sentence, not a key
    if span is None:
        return None
    value = text[span[0] : span[1]]
    if value.isdigit() and len(value) <= 9 and counts_secrets(key):
        return None  # tokens: 1200 is a count
    if _is_prose(value[:256]):
        return None
    return span


def _is_prose(value: str) -> bool:
    """A sentence about a secret rather than the secret: three words or more, one of them a
    word of ordinary prose (a passphrase of dictionary words has none of them)."""
    words = value.split()
    if len(words) < 3:
        return False
    return sum(w.strip(".,:;!?()").casefold() in _PROSE_WORDS for w in words) >= 2


def _part_char(text: str, at: int) -> str:
    """The character that opens the part ``at`` begins (blanks skipped), or "" at the start."""
    i = at - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return text[i] if i >= 0 else ""


def _in_flow(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A value inside a flow mapping or a list (``{user: app, password: x}``) ends at the
    first ``,`` or closing bracket of its line, unless it is quoted."""
    if text[span[0] - 1 : span[0]] in ('"', "'"):
        return span
    end = span[0]
    while end < span[1] and text[end] not in ",}])":
        end += 1
    while end > span[0] and text[end - 1] in " \t":
        end -= 1
    return span[0], end


def _starts_a_part(text: str, at: int) -> bool:
    """Whether only blanks stand between ``at`` and the start of the text, a line or a
    ``{ , ; ( [ & ? |``-separated part."""
    i = at - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in _PART_STARTS


def _value_span(text: str, start: int, *, line: bool, structured: bool) -> tuple[int, int] | None:
    if start >= len(text):
        return None
    first = text[start]
    if first == "\\":  # an escaped quote, as in JSON inside a JSON string: \"value\"
        at = start
        while at < len(text) and text[at] == "\\":
            at += 1
        if at >= len(text) or text[at] not in "\"'":
            return None
        close = text.find(text[at], at + 1, at + VALUE_MAX)
        close = min(len(text), at + VALUE_MAX) if close < 0 else close
        end = close
        while end > at + 1 and text[end - 1] == "\\":
            end -= 1
        span = (at + 1, end)
    elif first in "\"'":
        span = (start + 1, _closing_quote(text, start))
    elif first in "{[" and structured:
        return None  # a nested object: its own keys decide
    elif first == "{":  # ODBC: Pwd={...};
        close = text.find("}", start)
        span = (start, len(text) if close < 0 else close + 1)
    elif line:
        end = text.find("\n", start, start + VALUE_MAX)
        end = min(len(text), start + VALUE_MAX) if end < 0 else end
        while end > start and text[end - 1] in " \t\r":
            end -= 1
        span = (start, end)
    else:
        end, stop = start, min(len(text), start + VALUE_MAX)
        while end < stop and text[end] not in _VALUE_ENDS:
            end += 1
        span = (start, end)
    value = text[span[0] : span[1]]
    if not value or value.casefold() in _NOT_SECRET_VALUES:
        return None
    if value.startswith(REDACTED) or value.endswith(REDACTED):
        return None  # already replaced ("Authorization: Bearer [REDACTED]" keeps its scheme)
    return span


def _closing_quote(text: str, start: int) -> int:
    quote, i, stop = text[start], start + 1, min(len(text), start + VALUE_MAX)
    while i < stop:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == quote or c == "\n":
            return i
        else:
            i += 1
    return min(i, len(text))


def _credential_shaped_user(user: str) -> bool:
    """A URL's user that is a token: 20+ characters mixing letters and digits, or 32+."""
    if len(user) >= 32:
        return True
    return len(user) >= 20 and any(c.isdigit() for c in user) and any(c.isalpha() for c in user)


def _query_values(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        name, value = m.group("name"), m.group("value")
        if value.startswith(REDACTED) or value.casefold() in _NOT_SECRET_VALUES:
            return m.group(0)
        if name.casefold() not in QUERY_SECRETS and not is_secret_key(name):
            return m.group(0)
        if value.isdigit() and counts_secrets(name):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + REDACTED

    return _QUERY.sub(one, text)


def _netrc(text: str) -> str:
    if _NETRC_CONTEXT.search(text) is None:
        return text
    return _replace_group(_NETRC, "pw", lambda _: False)(text)


def _xml_elements(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        tag, value = m.group("tag"), m.group("value")
        if not value.strip() or value.startswith(REDACTED):
            return m.group(0)
        named = _XML_NAME.search(m.group("attrs") or "")  # <entry key="jdbc.password">
        if not is_secret_key(tag.rpartition(":")[2]) and not (
            named is not None and is_secret_key(named.group("name"))
        ):
            return m.group(0)
        whole, at = m.group(0), m.start()
        return whole[: m.start("value") - at] + REDACTED + whole[m.end("value") - at :]

    return _XML.sub(one, text)


def _xml_attribute_pairs(text: str) -> str:
    """``<add key="DbPassword" value="..."/>``, ``<setting name="ApiToken" ... value="...">``:
    the ``value`` attribute of a tag whose ``key`` or ``name`` attribute names a secret."""

    def one(m: re.Match[str]) -> str:
        named = _XML_NAME.search(m.group(0))
        if named is None or not is_secret_key(named.group("name")):
            return m.group(0)
        return _XML_VALUE.sub(
            lambda v: (
                v.group(0)
                if v.group("value").startswith(REDACTED)
                else f"{v.group('head')}{REDACTED}{v.group('q')}"
            ),
            m.group(0),
        )

    return _XML_TAG.sub(one, text)


def _pairs(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _PAIR.finditer(text):
        if m.start() < pos or not is_secret_key(m.group("name")):
            continue
        line = "\n" in m.group("gap") or _starts_a_part(text, m.start())
        span = _value_span(text, m.end(), line=line, structured=True)
        if span is None:
            continue
        if line and text[span[0] - 1 : span[0]] not in ('"', "'"):
            end = span[0]  # a YAML or Go value ends at the first blank or closing bracket
            while end < span[1] and text[end] not in _VALUE_ENDS:
                end += 1
            span = (span[0], end)
        if span[0] == span[1]:
            continue
        out.append(text[pos : span[0]])
        out.append(REDACTED)
        pos = span[1]
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _yaml_secret(text: str) -> str:
    """The values of a YAML ``kind: Secret``'s ``data``/``stringData``/``binaryData``."""
    if _YAML_SECRET.search(text) is None:
        return text
    lines = text.split("\n")
    block: int | None = None  # the indent of the data key whose entries are being replaced
    entry: int | None = None  # the indent of an entry whose block scalar follows
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" \t-"))
        if block is not None and line.strip() and indent <= block:
            block = entry = None
        if block is None:
            m = _YAML_DATA.match(line)
            if m is not None:
                rest = m.group("rest").strip()
                if rest and not rest.startswith(REDACTED):  # inline: data: {a: b}
                    lines[i] = line[: m.start("rest")] + REDACTED
                else:
                    block = len(m.group("indent"))
            continue
        if not line.strip():
            continue
        if entry is not None and indent > entry:
            lines[i] = line[:indent] + REDACTED  # a block scalar's line
            continue
        e = _YAML_ENTRY.match(line)
        if e is None:
            continue
        entry = None
        value = e.group("value").strip()
        if value in ("|", ">", "|-", ">-", "|+", ">+"):
            entry = indent
        elif not value.startswith(REDACTED):
            lines[i] = f"{e.group('head')} {REDACTED}"
    return "\n".join(lines)


#: The full scan: (rule reported, the prefilter group that calls for it, the step), in order.
_STEPS: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    (PRIVATE_KEY, _G_PK, _private_keys),
    (JWT, _G_JW, lambda text: _JWT.sub(REDACTED, text)),
    (PROVIDER_TOKEN, _G_PT, lambda text: _PROVIDER.sub(REDACTED, text)),
    (URL_PASSWORD, _G_URL, _replace_group(_URL_PASSWORD, "pw", lambda _: False)),
    (
        URL_PASSWORD,
        _G_URL,
        _replace_group(_URL_USER, "user", lambda u: not _credential_shaped_user(u)),
    ),
    (ASSIGNMENT, _G_QS, _query_values),
    (AUTHORIZATION, _G_AUTH, _replace_group(_BEARER, "cred", _not_credential_shaped)),
    (AUTHORIZATION, _G_AUTH, _replace_group(_BOT, "cred", _not_bot_credential)),
    (AUTHORIZATION, _G_AUTH, _replace_group(_BASIC, "cred", _not_basic_credentials)),
    (AUTHORIZATION, _G_AUTH, _digests),
    (KUBERNETES_SECRET, _G_YAML, _yaml_secret),
    (NAME_VALUE_PAIR, _G_XMLE, _xml_elements),
    (NAME_VALUE_PAIR, _G_XMLA, _xml_attribute_pairs),
    (NAME_VALUE_PAIR, _G_PAIRS, _pairs),
    (ASSIGNMENT, _G_NETRC, _netrc),
    (ASSIGNMENT, _G_ASSIGN, _assignments),
)
