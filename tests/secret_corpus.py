"""The secret shapes that must never be stored and the ordinary texts that must be stored
verbatim, as tables shared by the redaction tests. Every credential here is made up (a seeded
generator), each unique, so a leak in a stored row names its shape.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

_rnd = random.Random(1313)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
UPPER32 = string.ascii_uppercase + "234567"


def fake(alphabet: str, n: int, prefix: str = "") -> str:
    return prefix + "".join(_rnd.choice(alphabet) for _ in range(n))


def password() -> str:
    """A password-like secret: letters, digits and a symbol, unique in the corpus."""
    return fake(ALNUM, 10) + _rnd.choice("!#%*") + fake(ALNUM, 3)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def jwt(payload_len: int = 40) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1","typ":"JWT"}').decode()
    claims = base64.urlsafe_b64encode(
        json.dumps({"sub": fake(ALNUM, payload_len), "iss": "kubernetes"}).encode()
    ).decode()
    return f"{header.rstrip('=')}.{claims.rstrip('=')}.{fake(B64URL, 86)}"


def pem(kind: str, lines: int = 4) -> tuple[str, str]:
    """A private key block and its body (the secret)."""
    body = "\n".join(fake(B64, 64) for _ in range(lines))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----", body


@dataclass(frozen=True)
class Shape:
    """A text holding a secret: ``secret`` must not survive anywhere, ``kept`` must."""

    name: str
    text: str
    secret: str
    kept: str = ""


@dataclass(frozen=True)
class Structure:
    """Metadata holding a secret in its structure."""

    name: str
    metadata: dict[str, Any]
    secret: str
    kept: tuple[str, ...] = field(default_factory=tuple)


def _text_shapes() -> list[Shape]:
    out: list[Shape] = []

    def add(name: str, template: str, secret: str, kept: str = "") -> None:
        out.append(Shape(name, template.replace("{S}", secret), secret, kept))

    # authorization headers and schemes
    add("bearer header", "Authorization: Bearer {S}", fake(ALNUM, 40), "Authorization")
    add(
        "curl bearer",
        "curl -H 'Authorization: Bearer {S}' https://api.example.com/v1",
        fake(ALNUM, 32),
        "https://api.example.com/v1",
    )
    add(
        "bearer lower case",
        "request sent with bearer {S} and refused",
        fake(B64URL, 24),
        "and refused",
    )
    add("bearer upper case", "BEARER {S}", fake(ALNUM, 20))
    add("token scheme", "Authorization: Token {S}", fake(HEX, 40))
    add("token in a sentence", "retrying with token {S} after 401", fake(HEX, 12), "after 401")
    add("bot scheme", "Authorization: Bot {S}", fake(B64URL, 30))
    add("apikey scheme", "Authorization: ApiKey {S}", fake(ALNUM, 32))
    add("ssws scheme", "Authorization: SSWS {S}", fake(B64URL, 42))
    add("splunk scheme", "Authorization: Splunk {S}", "5b1f2c3d-9e8f-4a7b-8c6d-5e4f3a2b1c0d")
    add("geniekey scheme", "Authorization: GenieKey {S}", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    add("negotiate scheme", "Authorization: Negotiate {S}", fake(B64, 60) + "==")
    add(
        "ntlm scheme",
        "WWW-Authenticate answered with NTLM {S}",
        fake(B64, 48),
        "WWW-Authenticate answered with",
    )
    add(
        "digest response",
        'Authorization: Digest username="admin", realm="r", nonce="n1", uri="/", response="{S}"',
        fake(HEX, 32),
    )
    add("basic header", "Authorization: Basic {S}", b64("admin:" + password()))
    add(
        "basic in a sentence",
        "retrying with Basic {S} against the registry",
        b64("deploy:" + password()),
        "against the registry",
    )
    add("proxy basic", "Proxy-Authorization: Basic {S}", b64("proxy:" + password()))
    # URLs and connection strings
    add(
        "postgres url",
        "postgres://app:{S}@db.example:5432/orders",
        password(),
        "db.example:5432/orders",
    )
    add("mysql url", "mysql://root:{S}@mysql/app", password(), "@mysql/app")
    add(
        "mongodb srv url",
        "mongodb+srv://user:{S}@cluster0.example.net/db",
        password(),
        "cluster0.example.net/db",
    )
    add("redis url, no user", "redis://:{S}@redis:6379/0", password(), "redis:6379/0")
    add(
        "amqp url",
        "connecting to amqp://guest:{S}@rabbit:5672/ failed",
        password(),
        "rabbit:5672/ failed",
    )
    add(
        "https userinfo",
        "git clone https://ci:{S}@git.example.com/org/repo.git",
        fake(ALNUM, 20),
        "git.example.com/org/repo.git",
    )
    add("password with @", "postgresql://u:{S}@h/db", "p@ss" + fake(ALNUM, 8), "@h/db")
    add("smtp url", "smtp://mailer:{S}@smtp.example.com:587", password(), "smtp.example.com")
    add("ssh url", "ssh://deploy:{S}@bastion:22", password(), "bastion:22")
    add("DATABASE_URL line", "DATABASE_URL=postgresql://app:{S}@db/app", password(), "db/app")
    add(
        "jdbc",
        "jdbc:postgresql://db:5432/app?user=app&password={S}&ssl=true",
        password(),
        "ssl=true",
    )
    add("libpq", "host=db port=5432 user=app password={S} dbname=app", password(), "dbname=app")
    add(
        "libpq quoted", "host=db password='{S}' dbname=app", "two words " + password(), "dbname=app"
    )
    add("odbc", "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={S};", password(), "Server=db")
    add(
        "odbc braces",
        "Server=db;Uid=sa;Pwd={S};Encrypt=yes",
        "{" + fake(ALNUM, 8) + ";x}",
        "Encrypt=yes",
    )
    add(
        "sql server",
        "Server=tcp:db,1433;Database=app;User ID=sa;Password={S};Encrypt=true",
        password(),
        "Database=app",
    )
    add(
        "azure storage",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={S};"
        "EndpointSuffix=core.windows.net",
        fake(B64, 86) + "==",
        "AccountName=acct",
    )
    add(
        "azure service bus",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={S}",
        fake(B64, 43) + "=",
        "SharedAccessKeyName=Root",
    )
    add(
        "azure sas url",
        "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig={S}",
        fake(ALNUM, 44),
        "sp=r",
    )
    add(
        "aws presigned url",
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Signature={S}&X-Amz-Expires=60",
        fake(HEX, 64),
        "X-Amz-Expires=60",
    )
    add(
        "aws sigv4 header",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/"
        "us-east-1/s3/aws4_request, SignedHeaders=host, Signature={S}",
        fake(HEX, 64),
    )
    add(
        "oauth form",
        "client_secret={S}&grant_type=client_credentials",
        fake(B64URL, 32),
        "grant_type=client_credentials",
    )
    add("access_token query", "GET /v1/items?access_token={S}&page=2", fake(ALNUM, 30), "page=2")
    add(
        "api_key query",
        "https://maps.example.com/api?api_key={S}",
        fake(ALNUM, 24),
        "maps.example.com",
    )
    # assignments, flags, config text
    add("env password", "DB_PASSWORD={S}", password(), "DB_PASSWORD")
    add("export api key", "export API_KEY={S}", fake(ALNUM, 32), "export API_KEY")
    add("root password env", "MYSQL_ROOT_PASSWORD={S}", password())
    add("PGPASSWORD", "PGPASSWORD={S} psql -h db", password(), "psql -h db")
    add("DB_PASS", "DB_PASS={S}", password())
    add("quoted env", "REDIS_PASSWORD='{S}'", password())
    add("spaced and mixed case", "PassWord = {S}", password())
    add("passwd", "passwd={S}", password())
    add("pwd", "pwd={S}", password())
    add("passphrase", "passphrase={S}", password())
    add("otp", "otp={S}", "493027")
    add("concatenated key", "CLIENTSECRET={S}", fake(ALNUM, 24))
    add("camel concatenated key", "XAPIKey: {S}", fake(ALNUM, 24))
    add("flag with equals", "--password={S}", password(), "--password=")
    add("flag and value", "exec app --password {S} --user bob", password(), "--user bob")
    add("hyphenated flag", "--db-password {S}", password())
    add("token flag", "--token={S}", fake(ALNUM, 30))
    add("client secret flag", "--client-secret {S}", fake(ALNUM, 30))
    add(
        "helm set",
        "helm upgrade app --set postgresql.auth.password={S}",
        password(),
        "helm upgrade app",
    )
    add("yaml line", "password: {S}", password())
    add("yaml nested", "db:\n  host: pg\n  password: {S}\n  port: 5432", password(), "port: 5432")
    add("json text", '{"password": "{S}", "user": "app"}', password(), "app")
    add("json text apiKey", '{"apiKey":"{S}"}', fake(ALNUM, 32))
    add("python dict text", "{'token': '{S}'}", fake(ALNUM, 30))
    add("cookie header", "Cookie: session={S}; theme=dark", fake(B64URL, 32), "Cookie")
    add("set-cookie header", "Set-Cookie: sessionid={S}; Path=/; HttpOnly", fake(ALNUM, 32))
    add("x-api-key header", "X-API-Key: {S}", fake(ALNUM, 32), "X-API-Key")
    add("x-auth-token header", "X-Auth-Token: {S}", fake(HEX, 32))
    add("ini aws secret", "aws_secret_access_key = {S}", fake(B64, 40), "aws_secret_access_key")
    add("env aws secret", "AWS_SECRET_ACCESS_KEY={S}", fake(B64, 40))
    add("rails secret", "secret_key_base = {S}", fake(HEX, 128))
    add("webhook secret yaml", "webhook_secret: {S}", fake(ALNUM, 32))
    add("connection string assignment", 'connection_string="Server=x;Password={S}"', password())
    # private keys
    for kind in (
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ):
        block, body = pem(kind)
        out.append(Shape(f"pem {kind.lower()}", f"key:\n{block}\nend", body, "end"))
    block, body = pem("RSA PRIVATE KEY", 12)
    cut = block[:300]
    out.append(Shape("pem cut off", f"loaded {cut}", cut.split("\n", 1)[1], "loaded"))
    block, body = pem("PRIVATE KEY")
    out.append(Shape("pem json-escaped", block.replace("\n", "\\n"), body.split("\n")[0]))
    ssh2_body = fake(B64, 64)
    out.append(
        Shape(
            "ssh2 block",
            f"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n{ssh2_body}\n"
            "---- END SSH2 ENCRYPTED PRIVATE KEY ----",
            ssh2_body,
        )
    )
    putty = fake(B64, 64)
    out.append(
        Shape(
            "putty key",
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"
            f"Private-Lines: 1\n{putty}\nPrivate-MAC: {fake(HEX, 64)}",
            putty,
        )
    )
    add(
        "age key",
        "identity {S}",
        fake(UPPER32.replace("2", "0"), 58, "AGE-SECRET-KEY-1"),
        "identity",
    )
    rsa_b64 = b64(pem("RSA PRIVATE KEY")[0])
    add("base64 pem", "tls.key data {S}", rsa_b64, "tls.key data")
    # JSON Web Tokens
    add("jwt", "{S}", jwt())
    add("jwt after bearer", "Authorization: Bearer {S}", jwt())
    add("jwt in url", "https://app.example.com/cb?id_token={S}&state=x", jwt(), "state=x")
    add("service account token", "token {S} rejected", jwt(300), "rejected")
    jwe = ".".join(
        [base64.urlsafe_b64encode(b'{"alg":"RSA-OAEP","enc":"A256GCM"}').decode().rstrip("=")]
        + [fake(B64URL, 40) for _ in range(4)]
    )
    add("jwe", "{S}", jwe)
    # provider formats
    providers = [
        ("aws access key id", fake(UPPER32, 16, "AKIA")),
        ("aws sts key id", fake(UPPER32, 16, "ASIA")),
        ("github token", fake(ALNUM, 36, "ghp_")),
        ("github oauth token", fake(ALNUM, 36, "gho_")),
        ("github app token", fake(ALNUM, 36, "ghs_")),
        ("github fine-grained", fake(ALNUM + "_", 82, "github_pat_")),
        ("gitlab token", fake(B64URL, 20, "glpat-")),
        ("gitlab runner token", fake(B64URL, 20, "GR1348941")),
        (
            "slack bot token",
            f"xoxb-{fake(string.digits, 12)}-{fake(string.digits, 13)}-{fake(ALNUM, 24)}",
        ),
        ("slack user token", f"xoxp-{fake(string.digits, 12)}-{fake(ALNUM, 32)}"),
        ("slack app token", f"xapp-1-{fake(ALNUM, 11)}-{fake(string.digits, 13)}-{fake(HEX, 64)}"),
        ("discord bot token", f"M{fake(B64URL, 23)}.{fake(B64URL, 6)}.{fake(B64URL, 27)}"),
        ("telegram bot token", f"{fake(string.digits, 10)}:AA{fake(B64URL, 33)}"),
        ("stripe live key", fake(ALNUM, 24, "sk_live_")),
        ("stripe restricted key", fake(ALNUM, 24, "rk_live_")),
        ("stripe webhook secret", fake(ALNUM, 32, "whsec_")),
        ("google api key", fake(B64URL, 35, "AIza")),
        ("google oauth token", fake(B64URL, 60, "ya29.")),
        ("google client secret", fake(B64URL, 28, "GOCSPX-")),
        ("google refresh token", fake(B64URL, 60, "1//0")),
        ("openai project key", fake(B64URL, 48, "sk-proj-")),
        ("openai legacy key", fake(ALNUM, 48, "sk-")),
        ("anthropic key", fake(B64URL, 93, "sk-ant-api03-")),
        ("hugging face token", fake(string.ascii_letters, 34, "hf_")),
        ("npm token", fake(ALNUM, 36, "npm_")),
        ("pypi token", fake(B64URL, 70, "pypi-AgEIcHlwaS5vcmc")),
        ("sendgrid key", f"SG.{fake(B64URL, 22)}.{fake(B64URL, 43)}"),
        ("twilio api key", fake(HEX, 32, "SK")),
        ("mailgun key", fake(HEX, 32, "key-")),
        ("mailchimp key", fake(HEX, 32) + "-us6"),
        ("square token", fake(B64URL, 22, "sq0atp-")),
        ("shopify token", fake(HEX, 32, "shpat_")),
        ("digitalocean token", fake(HEX, 64, "dop_v1_")),
        ("vault token", fake(B64URL, 24, "hvs.")),
        ("databricks token", fake(HEX, 32, "dapi")),
        ("grafana service account", f"glsa_{fake(ALNUM, 32)}_{fake(HEX, 8)}"),
        ("grafana cloud token", fake(ALNUM, 40, "glc_")),
        ("new relic key", fake(string.ascii_uppercase + string.digits, 27, "NRAK-")),
        ("linear key", fake(ALNUM, 40, "lin_api_")),
        ("postman key", f"PMAK-{fake(HEX, 24)}-{fake(HEX, 34)}"),
        ("pulumi token", fake(HEX, 40, "pul-")),
        ("doppler token", fake(ALNUM, 43, "dp.pt.")),
        ("terraform cloud token", f"{fake(ALNUM, 14)}.atlasv1.{fake(B64URL, 67)}"),
        ("dynatrace token", f"dt0c01.{fake(UPPER32, 24)}.{fake(UPPER32, 64)}"),
        ("atlassian token", fake(B64URL, 180, "ATATT3")),
        ("artifactory key", fake(ALNUM, 69, "AKCp")),
        ("azure ad client secret", f"{fake(ALNUM, 3)}8Q~{fake(ALNUM, 34)}"),
        ("heroku key", fake(B64URL, 60, "HRKU-")),
        ("sentry token", fake(ALNUM, 64, "sntrys_")),
        ("docker hub token", fake(B64URL, 27, "dckr_pat_")),
        ("fly token", fake(B64URL, 60, "fo1_")),
    ]
    for name, token in providers:
        add(name, "found {S} in the logs", token, "in the logs")
    slack_path = f"T{fake(UPPER32, 8)}/B{fake(UPPER32, 8)}/{fake(ALNUM, 24)}"
    add(
        "slack webhook",
        "posting to https://hooks.slack.com/services/{S}",
        slack_path,
        "https://hooks.slack.com/",
    )
    discord = f"{fake(string.digits, 18)}/{fake(B64URL, 68)}"
    add(
        "discord webhook",
        "https://discord.com/api/webhooks/{S}",
        discord,
        "https://discord.com/api/webhooks/",
    )
    add(
        "bootstrap token",
        "kubeadm join 10.0.0.1:6443 --token {S}",
        fake("abcdefghij", 6) + "." + fake("0123456789", 16),
        "kubeadm join 10.0.0.1:6443",
    )
    add("private token header", "Private-Token: {S}", fake(B64URL, 20, "glpat-"))
    # folded forms: full-width letters and invisible characters
    out.append(
        Shape(
            "full-width key",
            "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44=hunter2x" + fake(ALNUM, 6),
            "hunter2x",
        )
    )
    zw = password()
    out.append(Shape("zero-width in key", f"pass\u200bword={zw}", zw))
    cc = password()
    out.append(Shape("control character in key", f"pass\x01word={cc}", cc))
    shy = password()
    out.append(Shape("soft hyphen in key", f"api\u00adkey: {shy}", shy))
    out.append(Shape("sharp s in key", f"Paßwort={shy[::-1]}", shy[::-1]))
    token = fake(ALNUM, 36, "ghp_")
    out.append(Shape("zero-width in token", token[:10] + "\u200b" + token[10:], token[10:]))
    # JSON text held in a string (annotations)
    add(
        "dockerconfigjson text",
        json.dumps({"auths": {"registry.example.com": {"auth": "{S}"}}}),
        b64("robot:" + password()),
    )
    add(
        "last-applied secret",
        json.dumps(
            {
                "apiVersion": "v1",
                "data": {"config.yaml": "{S}"},
                "kind": "Secret",
                "metadata": {"name": "app-config"},
            }
        ),
        b64("token: " + fake(ALNUM, 20)),
        "app-config",
    )
    add(
        "env list text",
        json.dumps([{"name": "DB_PASSWORD", "value": "{S}"}]),
        password(),
        "DB_PASSWORD",
    )
    add("headers json text", json.dumps({"Authorization": "Bearer {S}"}), fake(ALNUM, 40))
    # JSON inside a sentence, its names hidden by JSON escapes
    add("escaped name, json mid-text", 'applied: {"\\u0070assword": "{S}"}', password())
    add(
        "escaped secret kind, json mid-text",
        'manifest {"\\u006bind": "Secret", "data": {"cfg": "{S}"}} ok',
        b64("url: " + fake(ALNUM, 24)),
    )
    add(
        "kubeconfig text",
        "users:\n- name: admin\n  user:\n    token: {S}\n",
        fake(ALNUM, 40),
        "name: admin",
    )
    return out


def _structures() -> list[Structure]:
    out: list[Structure] = []
    pw = password()
    out.append(
        Structure(
            "container env",
            {
                "env": [
                    {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "DB_PASSWORD", "value": pw},
                ]
            },
            pw,
            ("LOG_LEVEL", "debug"),
        )
    )
    tok = fake(ALNUM, 40)
    out.append(
        Structure(
            "header list",
            {"headers": [{"name": "Authorization", "value": f"Token {tok}"}]},
            tok,
            ("Authorization",),
        )
    )
    tok = fake(ALNUM, 32)
    out.append(
        Structure(
            "aws tags",
            {"Tags": [{"Key": "team", "Value": "payments"}, {"Key": "api-key", "Value": tok}]},
            tok,
            ("payments",),
        )
    )
    tok = fake(ALNUM, 32)
    out.append(
        Structure("key/value list", {"params": [{"key": "client_secret", "value": tok}]}, tok)
    )
    pw = password()
    out.append(
        Structure(
            "container args",
            {"args": ["--port", "5432", "--db-password", pw, "--verbose"]},
            pw,
            ("--db-password", "5432", "--verbose"),
        )
    )
    tok = fake(ALNUM, 32)
    out.append(Structure("command with a token flag", {"command": ["vault", "-token", tok]}, tok))
    tok = fake(ALNUM, 32)
    out.append(Structure("literal valueFrom", {"name": "X-Api-Key", "valueFrom": tok}, tok))
    number = int(fake("123456789", 11))
    out.append(
        Structure(
            "numeric secret", {"code": "PIN_CODE", "apikey": number}, str(number), ("PIN_CODE",)
        )
    )
    data = b64("url: " + fake(ALNUM, 24))
    out.append(
        Structure(
            "kubernetes secret object",
            {
                "object": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "app"},
                    "type": "Opaque",
                    "data": {"config.yaml": data},
                }
            },
            data,
            ("config.yaml", "Opaque"),
        )
    )
    pw = password()
    out.append(
        Structure(
            "secret stringData",
            {"kind": "Secret", "stringData": {"settings": pw}},
            pw,
            ("settings",),
        )
    )
    auth = b64("robot:" + password())
    out.append(
        Structure(
            ".dockerconfigjson",
            {".dockerconfigjson": json.dumps({"auths": {"r.example.com": {"auth": auth}}})},
            auth,
        )
    )
    auth = b64("robot:" + password())
    out.append(Structure("auths", {"auths": {"r.example.com": {"auth": auth}}}, auth))
    pw = password()
    out.append(
        Structure("credentials object", {"credentials": {"user": "app", "password": pw}}, pw)
    )
    tok = fake(ALNUM, 36, "ghp_")
    out.append(Structure("token as a key", {tok: "seen"}, tok, ("seen",)))
    tok = fake(ALNUM, 40)
    out.append(Structure("bearer as a key", {f"Bearer {tok}": "seen"}, tok))
    keys = [
        "CLIENTSECRET",
        "XAPIKey",
        "clientSecrets",
        "Api_Keys",
        "\uff30\uff21\uff33\uff33\uff37\uff2f\uff32\uff24",
        "pass\u200bword",
        "PaSsWoRd",
        "sessionKey",
        "signing_key",
        "session-id",
        "x-amz-security-token",
        "aws.secret_access_key",
        "tls.key",
        "client-key-data",
        "kubeconfig",
        "Cookie",
        "set-cookie",
        "SharedAccessKey",
        "AccountKey",
        "ssh-key",
        "webhookSecret",
        "refresh_token",
        "id_token",
        "DB_PASS",
        "PGPASSWORD",
        "dbPwd",
        "passphrase",
        "encryptionKey",
        "masterKey",
        "otp",
        "hmac",
        "connectionString",
        "jwt",
        "bearer",
        "creds",
        "Paßwort-PASSWORT",
        "private_key_id",
        "Secret",
        "SECRET_KEY_BASE",
        "authToken",
        "X-Vault-Token",
        "db\tpassword",
    ]
    for key in keys:
        value = fake(ALNUM, 18)
        out.append(
            Structure(
                f"key {key!r}", {"settings": {key: value, "replicas": 3}}, value, ("replicas",)
            )
        )
    return out


def _tooling_shapes() -> list[Shape]:
    """What Kubernetes and the tools around it print: XML settings, Ruby/PHP/Go prints, JSON as
    Jackson and kubectl write it, YAML in messages, .netrc, URLs and headers, webhooks, and the
    token formats of gitleaks' and detect-secrets' rules."""
    out: list[Shape] = []

    def add(name: str, template: str, secret: str, kept: str = "") -> None:
        out.append(Shape(f"{name} (tooling)", template.replace("{S}", secret), secret, kept))

    # XML: Maven and Jenkins settings, .NET configuration, Java properties
    add(
        "maven settings",
        "<server><id>nexus</id><username>deploy</username><password>{S}</password></server>",
        password(),
        "<id>nexus</id>",
    )
    add(
        "jenkins credential",
        "<com.cloudbees.Creds><id>gh</id><secret>{S}</secret></com.cloudbees.Creds>",
        fake(ALNUM, 24),
        "<id>gh</id>",
    )
    add("xml namespaced token", "<cfg:apiToken>{S}</cfg:apiToken>", fake(ALNUM, 32))
    add(
        "xml client secret",
        '<oauth provider="x"><client-secret>{S}</client-secret></oauth>',
        fake(ALNUM, 30),
        'provider="x"',
    )
    add(
        ".NET appSettings",
        '<appSettings><add key="DbPassword" value="{S}"/></appSettings>',
        password(),
        "<appSettings>",
    )
    add(
        ".NET setting name",
        '<setting name="ApiToken" serializeAs="String" value="{S}" />',
        fake(ALNUM, 28),
    )
    add(".NET add single quotes", "<add key='StorageAccountKey' value='{S}'/>", fake(B64, 44))
    add(
        "java properties xml",
        '<entry key="jdbc.password">{S}</entry>',
        password(),
        '<entry key="jdbc.password">',
    )
    add("xml cdata", "<password><![CDATA[{S}]]></password>", password())
    add("spring property", '<property name="password" value="{S}"/>', password())
    add(
        "phpunit env",
        '<env name="DB_PASSWORD" value="{S}" force="true"/>',
        password(),
        'force="true"',
    )
    add("php config index", "$config['db_password'] = '{S}';", password(), "$config")
    add("python environ", 'os.environ["API_TOKEN"] = "{S}"', fake(ALNUM, 30), "os.environ")
    add(
        "go http header",
        "headers: map[Content-Type:[application/json] X-Api-Key:[{S}]]",
        fake(HEX, 32),
        "Content-Type:[application/json]",
    )
    add("xml passphrase", "<keystore><passphrase>{S}</passphrase></keystore>", password())
    # Ruby and PHP hashes
    add("ruby hash", '{"password"=>"{S}", "user"=>"app"}', password(), '"user"=>"app"')
    add("ruby symbol hash", '{:user=>"app", :password=>"{S}"}', password(), ":user")
    add("ruby 1.9 hash", '{user: "app", api_key: "{S}"}', fake(ALNUM, 32), 'user: "app"')
    add("php array", "array('host' => 'db', 'password' => '{S}')", password(), "'host' => 'db'")
    add("php short array", "['secret' => '{S}', 'ttl' => 60]", fake(ALNUM, 24), "'ttl' => 60")
    add("php array spaced", "'db_password'  =>  '{S}',", password())
    add("ruby inspect token", '#<Config token="{S}" host="api">', fake(ALNUM, 32), 'host="api"')
    # JSON as Jackson's pretty printer and kubectl write it
    add("jackson space before colon", '{"user" : "app", "password" : "{S}"}', password(), '"user"')
    add(
        "jackson pretty",
        '{\n  "clientSecret" : "{S}",\n  "clientId" : "web"\n}',
        fake(ALNUM, 32),
        '"clientId"',
    )
    add("json tab before colon", '{"apiKey"\t:\t"{S}"}', fake(ALNUM, 32))
    add(
        "kubectl escaped token",
        'error when applying patch:\n{\\"data\\":{\\"token\\":\\"{S}\\"}}\nto:\n'
        'Resource: "/v1, Resource=secrets"',
        fake(B64, 40),
        'Resource: "/v1, Resource=secrets"',
    )
    add(
        "kubectl escaped secret data",
        'Error from server: {\\"kind\\":\\"Secret\\",\\"data\\":{\\"url\\":\\"{S}\\"}}',
        b64("https://" + fake(ALNUM, 20)),
        "Error from server",
    )
    add(
        "kubectl escaped env",
        'patch {\\"spec\\":{\\"containers\\":[{\\"env\\":[{\\"name\\":\\"DB_PASSWORD\\",'
        '\\"value\\":\\"{S}\\"}]}]}} rejected',
        password(),
        "rejected",
    )
    add("escaped json twice", '{"msg":"{\\"auth\\":{\\"password\\":\\"{S}\\"}}"}', password())
    add(
        "json after many brackets",
        " ".join(f"[step{i}]" for i in range(24)) + ' {"env":[{"name":"API_TOKEN","value":"{S}"}]}',
        fake(ALNUM, 30),
        "[step23]",
    )
    add(
        "secret after many brackets",
        "[a] " * 20 + '{"kind":"Secret","data":{"config":"{S}"}} applied',
        b64("dsn=" + fake(ALNUM, 20)),
        "applied",
    )
    # YAML in a message
    add(
        "yaml env list",
        "env:\n- name: LOG_LEVEL\n  value: debug\n- name: DB_PASSWORD\n  value: {S}\n",
        password(),
        "LOG_LEVEL",
    )
    add("yaml env quoted", '- name: "API_TOKEN"\n  value: "{S}"', fake(ALNUM, 32), "API_TOKEN")
    add(
        "yaml secret manifest",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  dsn: {S}\n",
        b64("postgres://" + fake(ALNUM, 16)),
        "name: db",
    )
    add(
        "yaml secret stringData",
        "kind: Secret\nstringData:\n  config.json: {S}\n",
        fake(ALNUM, 30),
        "kind: Secret",
    )
    add(
        "yaml secret block scalar",
        "kind: Secret\nstringData:\n  app.conf: |\n    url={S}\n",
        fake(ALNUM, 30),
    )
    add("yaml secret kind last", "data:\n  creds: {S}\nkind: Secret\n", b64(fake(ALNUM, 24)))
    add("yaml secret flow data", "kind: Secret\ndata: {cfg: {S}}\n", b64(fake(ALNUM, 26)))
    add("helm values", "auth:\n  enabled: true\n  rootPassword: {S}\n", password(), "enabled: true")
    add("yaml flow mapping", "cfg {user: app, password: {S}} applied", password(), "} applied")
    add("yaml flow list", "[token: {S}, replicas: 3]", fake(ALNUM, 30), "replicas: 3")
    # .netrc
    add(
        "netrc one line",
        "machine api.github.com login octocat password {S}",
        fake(ALNUM, 40),
        "machine api.github.com",
    )
    add(
        "netrc lines",
        "machine registry.example.com\n  login deploy\n  password {S}\n",
        password(),
        "login deploy",
    )
    add("netrc default", "default login anonymous password {S}", password(), "login anonymous")
    # URLs
    add(
        "token as url user",
        "git clone https://{S}@github.com/org/repo.git",
        fake(HEX, 40),
        "github.com/org/repo.git",
    )
    add(
        "token user with x-oauth-basic",
        "https://{S}:x-oauth-basic@github.com/org/repo",
        fake(ALNUM, 40),
        "github.com/org/repo",
    )
    add(
        "git+https token user",
        "pip install git+https://{S}@gitlab.example.com/g/p.git",
        fake(ALNUM, 26) + "7",
        "pip install",
    )
    add(
        "oauth code",
        "GET /callback?code={S}&state=af0ifjsldkj HTTP/1.1",
        fake(B64URL, 30),
        "state=af0ifjsldkj",
    )
    add(
        "google key param",
        "https://maps.googleapis.com/maps/api/geocode/json?key={S}",
        fake(ALNUM, 30),
        "maps.googleapis.com",
    )
    add(
        "azure sas sig",
        "https://acct.blob.core.windows.net/c/f.tgz?sv=2022-11-02&se=2026-01-01&sp=r&sig={S}",
        fake(ALNUM, 30) + "%2B" + fake(ALNUM, 8) + "%3D",
        "sv=2022-11-02",
    )
    add(
        "s3 presigned",
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={S}",
        fake(HEX, 64),
        "X-Amz-Algorithm",
    )
    add(
        "gcs signed",
        "https://storage.googleapis.com/b/o?X-Goog-Signature={S}&X-Goog-Expires=900",
        fake(HEX, 64),
        "X-Goog-Expires=900",
    )
    add("access_token param", "/api/v1/me?access_token={S}&fields=id", fake(ALNUM, 40), "fields=id")
    add("api_key param", "GET /v2/data?api_key={S}", fake(HEX, 32), "/v2/data")
    add("password param", "/login?user=admin&password={S}", password(), "user=admin")
    add(
        "client_secret param",
        "token?grant_type=client_credentials&client_secret={S}",
        fake(ALNUM, 36),
        "grant_type=client_credentials",
    )
    add(
        "ticket param",
        "https://cas.example.com/validate?service=x&ticket={S}",
        "ST-" + fake(ALNUM, 30),
        "service=x",
    )
    add("session param", "/app;jsessionid=1&session={S}", fake(HEX, 32))
    # headers
    add("apim header", "Ocp-Apim-Subscription-Key: {S}", fake(HEX, 32))
    add(
        "apim header mid-text",
        "request with Ocp-Apim-Subscription-Key: {S} was throttled",
        fake(HEX, 32),
        "was throttled",
    )
    add(
        "x-api-key curl",
        'curl -H "X-API-Key: {S}" https://api.example.com',
        fake(ALNUM, 32),
        "https://api.example.com",
    )
    add("azure functions key", "x-functions-key: {S}", fake(B64URL, 54))
    add(
        "azure openai api-key",
        "sent api-key: {S} to the endpoint",
        fake(HEX, 32),
        "to the endpoint",
    )
    add("gitlab private token", "PRIVATE-TOKEN: {S}", fake(ALNUM, 20) + "9")
    add("vault token header", "X-Vault-Token: {S}", fake(ALNUM, 26))
    add("datadog key header", "DD-API-KEY: {S}", fake(HEX, 32))
    add("datadog app key header", "DD-APPLICATION-KEY: {S}", fake(HEX, 40))
    add("csrf header", "X-CSRFToken: {S}", fake(ALNUM, 32))
    add("xsrf cookie", "Cookie: XSRF-TOKEN={S}; lang=en", fake(B64URL, 40))
    # webhooks whose secret is the path
    add(
        "teams webhook",
        "posting to https://contoso.webhook.office.com/webhookb2/{S} failed",
        f"{fake(HEX, 8)}-{fake(HEX, 4)}@{fake(HEX, 8)}/IncomingWebhook/{fake(HEX, 32)}/"
        f"{fake(HEX, 8)}",
        "failed",
    )
    add(
        "teams legacy webhook",
        "https://outlook.office.com/webhook/{S}",
        f"{fake(HEX, 8)}@{fake(HEX, 8)}/IncomingWebhook/{fake(HEX, 32)}/{fake(HEX, 8)}",
    )
    add(
        "slack webhook",
        "notify https://hooks.slack.com/services/{S} 404",
        f"T{fake(UPPER32, 8)}/B{fake(UPPER32, 8)}/{fake(ALNUM, 24)}",
        "404",
    )
    add(
        "slack workflow webhook",
        "https://hooks.slack.com/workflows/{S}",
        f"T{fake(UPPER32, 8)}/A{fake(UPPER32, 8)}/{fake(HEX, 18)}/{fake(ALNUM, 24)}",
    )
    add(
        "discord webhook",
        "https://discord.com/api/webhooks/{S}",
        f"{fake('0123456789', 18)}/{fake(B64URL, 68)}",
    )
    add(
        "discordapp webhook",
        "hook https://discordapp.com/api/webhooks/{S} ok",
        f"{fake('0123456789', 18)}/{fake(B64URL, 68)}",
        " ok",
    )
    # Sentry's denylist as text keys
    for key in (
        "session",
        "sessionid",
        "csrftoken",
        "x_csrftoken",
        "set_cookie",
        "x_api_key",
        "aiohttp_session",
        "connect.sid",
        "csrf_token",
        "csrf",
        "_csrf",
        "_csrf_token",
        "PHPSESSID",
        "_session",
        "symfony",
        "user_session",
        "_xsrf",
        "XSRF-TOKEN",
        "mysql_pwd",
        "privatekey",
    ):
        add(f"denylist {key}=", f"{key}={{S}}", fake(ALNUM, 26))
    # Go's %+v and map prints
    add("go struct", "config: {User:app Password:{S} Host:db}", password(), "Host:db")
    add("go pointer struct", "&{Token:{S} Expiry:2026-01-01}", fake(ALNUM, 32), "Expiry")
    add("go map", "map[password:{S} user:app]", password(), "user:app")
    add("go name value", "{Name:DB_PASSWORD Value:{S} ValueFrom:nil}", password(), "ValueFrom:nil")
    add("go secret field", "opts={Username:app Secret:{S}}", fake(ALNUM, 24), "Username:app")
    # assignments in the languages detect-secrets' keyword plugin reads
    add("go short assignment", 'apiKey := "{S}"', fake(ALNUM, 32))
    add("php variable", "$db_password = '{S}';", password())
    add("shell export", "export AWS_SECRET_ACCESS_KEY={S}", fake(B64, 40))
    add("ini", "[db]\npassword = {S}\n", password(), "[db]")
    add("toml", 'token = "{S}"', fake(ALNUM, 30))
    add("docker env flag", "docker run -e DB_PASSWORD={S} app", password(), "docker run")
    add(
        "npmrc auth token",
        "//registry.npmjs.org/:_authToken={S}",
        f"{fake(HEX, 8)}-{fake(HEX, 4)}-{fake(HEX, 4)}-{fake(HEX, 4)}-{fake(HEX, 12)}",
    )
    add("pip index url", "--index-url https://user:{S}@pypi.example.com/simple", password())
    add("redis url no user", "redis://:{S}@redis:6379/0", password(), "redis:6379/0")
    add("amqp url", "amqp://guest:{S}@rabbit:5672/", password())
    add("mongo srv", "mongodb+srv://app:{S}@cluster0.example.net/db", password())
    add("jdbc password", "jdbc:sqlserver://db;user=sa;password={S};", password())
    add(
        "azure storage string",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={S};",
        fake(B64, 86) + "==",
        "AccountName=a",
    )
    add(
        "azure service bus",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey={S}",
        fake(B64, 43) + "=",
        "SharedAccessKeyName=R",
    )
    # provider formats (gitleaks' and detect-secrets' rules)
    providers = [
        ("alibaba", "LTAI" + fake(ALNUM, 20)),
        ("clojars", "CLOJARS_" + fake(HEX + "ghijklmnopqrstuvwxyz", 60)),
        ("duffel", "duffel_test_" + fake(B64URL, 43)),
        ("easypost", "EZAK" + fake(ALNUM, 54)),
        ("flutterwave", "FLWSECK_TEST-" + fake("abcdef0123456789", 32) + "-X"),
        ("frameio", "fio-u-" + fake(B64URL, 64)),
        ("harness", f"pat.{fake(B64URL, 22)}.{fake(ALNUM, 24)}.{fake(ALNUM, 20)}"),
        ("infracost", "ico-" + fake(ALNUM, 32)),
        ("mapbox", f"sk.eyJ{fake(B64URL, 60)}.{fake(B64URL, 22)}"),
        ("new relic insert", "NRII-" + fake(B64URL, 32)),
        ("new relic browser", "NRJS-" + fake(HEX, 19)),
        ("1password", "ops_eyJ" + fake(B64, 200)),
        ("openshift", "sha256~" + fake(B64URL, 43)),
        (
            "plaid",
            f"access-sandbox-{fake(HEX, 8)}-{fake(HEX, 4)}-{fake(HEX, 4)}-"
            f"{fake(HEX, 4)}-{fake(HEX, 12)}",
        ),
        ("planetscale", "pscale_tkn_" + fake(ALNUM, 43)),
        ("prefect", "pnu_" + fake(ALNUM, 36)),
        ("readme", "rdme_" + fake(HEX + "ghijklmnopqrstuvwxyz", 70)),
        ("rubygems", "rubygems_" + fake(HEX, 48)),
        ("scalingo", "tk-us-" + fake(B64URL, 48)),
        ("brevo", f"xkeysib-{fake(HEX, 64)}-{fake(ALNUM, 16)}"),
        ("shippo", "shippo_live_" + fake(HEX, 40)),
        ("typeform", "tfp_" + fake(ALNUM, 59)),
        ("cloudflare origin ca", f"v1.0-{fake(HEX, 24)}-{fake(HEX, 146)}"),
        ("octopus", "API-" + fake(string.ascii_uppercase + string.digits, 26)),
        ("notion", "ntn_" + fake("0123456789", 11) + fake(ALNUM, 35)),
        ("notion legacy", "secret_" + fake(ALNUM, 43)),
        ("groq", "gsk_" + fake(ALNUM, 52)),
        ("replicate", "r8_" + fake(ALNUM, 37)),
        ("tailscale", f"tskey-auth-{fake(ALNUM, 12)}-{fake(ALNUM, 30)}"),
        ("supabase", "sbp_" + fake(HEX, 40)),
        ("netlify", "nfp_" + fake(ALNUM, 36)),
        ("buildkite", "bkua_" + fake(HEX, 40)),
        ("perplexity", "pplx-" + fake(ALNUM, 48)),
        ("xai", "xai-" + fake(ALNUM, 80)),
        ("langsmith", f"lsv2_pt_{fake(HEX, 32)}_{fake(HEX, 10)}"),
        ("yandex api key", "AQVN" + fake(B64URL, 36)),
        ("intra42", "s-s4t2ud-" + fake(HEX, 64)),
        ("github app", "ghs_" + fake(ALNUM, 36)),
        ("github refresh", "ghr_" + fake(ALNUM, 36)),
        ("gitlab deploy", "gldt-" + fake(B64URL, 20)),
        ("gitlab runner", "glrt-" + fake(B64URL, 20)),
        ("slack bot", "xoxb-" + fake("0123456789", 12) + "-" + fake(ALNUM, 24)),
        ("slack user", "xoxp-" + fake("0123456789", 12) + "-" + fake(ALNUM, 32)),
        ("stripe restricted", "rk_live_" + fake(ALNUM, 24)),
        ("anthropic", "sk-ant-api03-" + fake(B64URL, 90)),
        ("openai project", "sk-proj-" + fake(B64URL, 48)),
        ("vault batch", "hvb." + fake(B64URL, 90)),
        ("doppler", "dp.st." + fake(ALNUM, 43)),
        ("sentry user", "sntryu_" + fake(HEX, 64)),
        ("docker hub", "dckr_pat_" + fake(B64URL, 27)),
    ]
    for name, token in providers:
        add(f"{name} token", "configured client with {S} for the sync", token, "for the sync")
    return out


def _sentry_structures() -> list[Structure]:
    """Sentry's DEFAULT_DENYLIST as metadata keys, and pairs and Secrets in other casings."""
    out: list[Structure] = []
    for key in (
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "auth",
        "credentials",
        "mysql_pwd",
        "privatekey",
        "private_key",
        "token",
        "session",
        "csrftoken",
        "sessionid",
        "x_csrftoken",
        "x_forwarded_for",
        "set_cookie",
        "cookie",
        "authorization",
        "x_api_key",
        "aiohttp_session",
        "connect.sid",
        "csrf_token",
        "csrf",
        "_csrf",
        "_csrf_token",
        "PHPSESSID",
        "_session",
        "symfony",
        "user_session",
        "_xsrf",
        "XSRF-TOKEN",
    ):
        value = fake(ALNUM, 22)
        out.append(
            Structure(
                f"denylist key {key!r}", {"request": {key: value, "n": 7}}, value, ("request",)
            )
        )
    for key in (
        "Ocp-Apim-Subscription-Key",
        "x-functions-key",
        "DD-APPLICATION-KEY",
        "integrationKey",
        "consumer_key",
        "adminKey",
    ):
        value = fake(HEX, 32)
        out.append(Structure(f"header key {key!r}", {"headers": {key: value}}, value))
    return out


TEXT_SHAPES = _text_shapes()
STRUCTURES = _structures()
TEXT_SHAPES += _tooling_shapes()
STRUCTURES += _sentry_structures()

#: Free text and values that hold no secret and must be stored exactly as given.
ORDINARY_TEXTS = [
    "Basic authentication failed for user admin",
    "Falling back to basic provisioning",
    "bearer required for /api",
    "Back-off restarting failed container web in pod web-7c5b8d9f6-x2k4p_default"
    "(5f1c7a1e-4b7d-4c1e-9a3b-0d1e2f3a4b5c)",
    "failed to refresh token: context deadline exceeded",
    'MountVolume.SetUp failed for volume "db-credentials" : secret "db-credentials" not found',
    'Error: secret "api-token" not found',
    'Successfully pulled image "nginx:1.25" in 1.204s (1.204s including waiting)',
    "Readiness probe failed: HTTP probe failed with statuscode: 503",
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available",
    "Created container: web",
    "Scaled up replica set web-7c5b8d9f6 to 3",
    "https://example.com/path?page=2&sort=asc",
    "postgres://app@db.example:5432/orders",
    "git@github.com:org/repo.git",
    "ssh://git@host:22/repo",
    "http://[::1]:8080/healthz",
    "Token TTL exceeded; rotating",
    "The token is expired",
    "JWT authentication enabled",
    "OAuth 2.0 client configured",
    "password policy updated: minimum length 12",
    "Secret/default/db-creds synced",
    "Signature verification failed for registry.example.com/app@sha256:"
    "0d3f5c1b7a9e2f4d6c8b0a1e3f5d7c9b1a3e5f7d9c1b3a5e7f9d1c3b5a7e9f1d",
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0YwD3aP5rJ2LkQ7bXo3n user@laptop",
    "5f1c7a1e-4b7d-4c1e-9a3b-0d1e2f3a4b5c",
    "2026-01-15T11:58:02Z",
    "registry.example.com/shop/web:1.4.2",
    "ip-10-0-1-23.ec2.internal",
    "kube-system",
    "web-7c5b8d9f6-x2k4p",
    "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "Über die Brücke — 東京 ✓ déploiement réussi",
    "emoji 🚀 rollout finished",
    "Session affinity set to ClientIP",
    "connection refused (dial tcp 10.0.0.5:5432)",
    "probe passed after 3 attempts",
    "terminated by signal 9 (SIGKILL)",
    "key rotation scheduled for 2026-02-01",
    "monkey-patched the authority's author list",
    "kubeadm join 10.0.0.1:6443 --discovery-token-unsafe-skip-ca-verification",
    "user=app dbname=orders sslmode=require",
    "task-runner disk-pressure sk-learn",
    "The Basic plan includes 3 seats",
    "apiVersion: v1\nkind: ConfigMap\ndata:\n  log_level: debug",
    '{"kind": "ConfigMap", "data": {"config.yaml": "replicas: 3"}}',
    "config hash sha256:4f2b8c1d",
    "Bearer token authentication is required for this endpoint",
    # names and sentences that resemble a secret (issue: over-redaction)
    "existingSecret: db-credentials",
    "accessKeyId: AKIDEXAMPLE0000",
    "tokens: 1200",
    "usage: prompt_tokens=800 completion_tokens=400 tokens: 1200",
    "Password: must be at least 12 characters",
    "password: must contain a digit and a symbol",
    "password_history=5",
    "password_expiry_days=90",
    "Bot deploybot42 joined the channel",
    "Bot renovate2024 opened pull request #42",
    "sessionAffinity: ClientIP",
    "session_timeout: 30m",
    "secrets: 3",
    "max_tokens=4096",
    "tokenExpirationSeconds: 3600",
    "existingSecretPasswordKey: password",
    # structured text with ordinary keys
    "<passwordPolicy>strict</passwordPolicy>",
    "<name>db-password</name>",
    '<add key="LogLevel" value="Debug"/>',
    '<add key="PasswordMinLength" value="12"/>',
    "<tokenEndpoint>https://login.example.com/oauth2/token</tokenEndpoint>",
    '{"user"=>"app", "password_file"=>"/run/secrets/db"}',
    "'password_min' => 12,",
    '{"password_min_length" : 12}',
    'patch {\\"data\\":{\\"log_level\\":\\"debug\\"}} applied',
    "- name: PASSWORD_FILE\n  value: /run/secrets/db",
    "- name: LOG_LEVEL\n  value: debug",
    "secretKeyRef:\n  name: db\n  key: password",
    "kind: ConfigMap\ndata:\n  token_ttl: 3600\n  log_level: debug",
    "{User:app Host:db Port:5432}",
    "map[replicas:3 tier:web]",
    "&{Name:web Replicas:3}",
    # URLs and headers with ordinary parts
    "https://github.com/org/repo/pulls?state=open&page=2",
    "https://firstname.lastname@example.com/path",
    "https://deploy@git.example.com/org/repo.git",
    "https://outlook.office.com/mail/inbox",
    "https://hooks.example.com/services/build",
    "container exited with code=137",
    "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb&limit=50",
    "X-Request-Id: 5f1c7a1e-4b7d-4c1e-9a3b-0d1e2f3a4b5c",
    "Content-Type: application/json",
    "machine worker-1 is ready",
    "machine learning job finished in 42 minutes",
    "default backend is ready",
    "key rotation: next run 2026-02-01",
    "secret db-credentials mounted read-only",
    "the session was closed by the peer",
    "token bucket refilled: 10 per second",
    "Unauthorized: token expired",
    "JSON Web Token validation failed: signature mismatch",
    "retry after 3 attempts; sessions=4",
]

#: Metadata keys that describe, count or merely resemble a secret, kept with their values.
ORDINARY_KEYS = [
    "author",
    "authority",
    "authorName",
    "tokenizer",
    "keyName",
    "monkey",
    "version",
    "tier",
    "secretName",
    "passwordFile",
    "token_ttl",
    "oauth_provider",
    "secretKeyRef",
    "max_tokens",
    "passwordMinLength",
    "auth_type",
    "authMethod",
    "tokenEndpoint",
    "secret_namespace",
    "credentialsProvider",
    "apiKeyHeader",
    "signingAlgorithm",
    "passed",
    "pass_rate",
    "sessionAffinity",
    "cookie_policy",
    "connectionTimeout",
    "publicKey",
    "sshPublicKey",
    "hostname",
    "signal",
    "design",
    "keyboard",
    "secretary",
    "tokenization",
    "to_ken",
    "TOKEN_TTL",
    "PASSWORD_FILE",
    "secret_ref",
    "certificate",
    "ca.crt",
    "tls.crt",
    "kubernetes.io/service-account.name",
    "reason",
    "count",
    "first_timestamp",
    "node",
    "image",
    "container",
    "replicas",
    "namespace",
    "uid",
    "passwordless",
    "authenticated",
    "existingSecret",
    "existingSecretPasswordKey",
    "useExistingSecret",
    "accessKeyId",
    "AWS_ACCESS_KEY_ID",
    "password_history",
    "passwordHistory",
    "password_expiry_days",
    "session_timeout",
    "sessionAffinityConfig",
    "sessionCount",
    "csrf_enabled",
    "xsrf_header_name",
    "token_url",
    "password_reset_url",
    "secret_store",
    "keyAlgorithm",
    "hookUrl",
    "bot_name",
]

#: Structures that must be stored exactly as given.
ORDINARY_STRUCTURES: list[dict[str, Any]] = [
    {
        "env": [
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "PASSWORD_FILE", "value": "/run/secrets/db"},
            {"name": "TOKEN_TTL", "value": "3600"},
        ]
    },
    {
        "env": [
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
            }
        ]
    },
    {"object": {"kind": "ConfigMap", "data": {"config.yaml": "replicas: 3"}}},
    {
        "volumes": [
            {
                "name": "certs",
                "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "tls.crt"}]},
            }
        ]
    },
    {"flags": {"auth_enabled": True, "password": None, "token": False}},
    {"imagePullSecrets": [{"name": "regcred"}], "envFrom": [{"secretRef": {"name": "app"}}]},
    {"args": ["--token-file", "/var/run/token", "--password-min-length", "12", "-v", "debug"]},
    {"usage": {"tokens": 1200, "prompt_tokens": 800, "completion_tokens": 400}},
    {"db": {"existingSecret": "db-credentials", "existingSecretPasswordKey": "password"}},
    {"aws": {"accessKeyId": "AKIDEXAMPLE0000", "region": "eu-west-1"}},
    {"policy": {"password_history": 5, "passwordMinLength": 12}},
    {"service": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"timeout": 10800}}},
    {"bot": {"name": "deploybot42", "title": "Bot deploybot42"}},
    {"secrets": 3, "tokens": 10},
    {"usage": {"total_tokens": "1200", "cached_tokens": 0.0}},
]


def leaks(secret: str, stored: str) -> bool:
    """Whether ``secret`` (or, for a long one, any 12-character piece of it) is in ``stored``."""
    if not secret:
        return False
    if secret in stored:
        return True
    if len(secret) < 16:
        return False
    return any(secret[i : i + 12] in stored for i in range(len(secret) - 11))


def stored_rows(url: URL | Path) -> list[str]:
    """Every stored row as one text, read with the raw driver (sqlite3 or psycopg)."""
    if isinstance(url, Path) or url.get_backend_name() == "sqlite":
        path = url if isinstance(url, Path) else Path(str(url.database))
        con = sqlite3.connect(path)
        try:
            rows = con.execute("SELECT * FROM events").fetchall()
        finally:
            con.close()
        return ["\x1f".join("" if v is None else str(v) for v in row) for row in rows]
    import psycopg

    from tests.helpers import conninfo

    schema = str(url.query["options"]).split("=", 1)[1]
    with psycopg.connect(conninfo(url) + f" options=-csearch_path={schema}") as con:
        rows = con.execute("SELECT * FROM events").fetchall()
    return ["\x1f".join("" if v is None else str(v) for v in row) for row in rows]
