"""Re-vendor GraphiQL and React into gateway/server/static/vendor/, at the pinned versions below.

    python scripts/vendor_graphiql.py        # needs npm (and the npm registry); the test suite does not

GraphiQL 3.8.3 is the last release that ships a browser bundle usable without a bundler (`graphiql.min.js`, a
UMD script that expects `window.React` and `window.ReactDOM`); GraphiQL 4 deprecated it and 5 dropped it for
Monaco with web workers. React 18.3.1 is the last React with UMD builds. Each tarball is checked against the
integrity npm publishes for it (pinned here), and only the files the page loads are kept, with each package's
licence. Source-map comments are cut: the maps are not shipped, and a browser would ask the gateway for them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["PACKAGES", "main"]

TARGET: Final = Path(__file__).resolve().parents[1] / "gateway" / "server" / "static" / "vendor"

# package -> (version, npm's dist.integrity, {file in the tarball: name in TARGET})
PACKAGES: Final = {
    "graphiql": (
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        {
            "package/graphiql.min.js": "graphiql.min.js",
            "package/graphiql.min.css": "graphiql.min.css",
            "package/LICENSE": "LICENSE.graphiql",
        },
    ),
    "react": (
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {
            "package/umd/react.production.min.js": "react.production.min.js",
            "package/LICENSE": "LICENSE.react",
        },
    ),
    "react-dom": (
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {
            "package/umd/react-dom.production.min.js": "react-dom.production.min.js",
            "package/LICENSE": "LICENSE.react-dom",
        },
    ),
}


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _without_source_map(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"\n".join(line for line in lines if b"sourceMappingURL=" not in line)


def fetch(package: str, version: str, integrity: str, folder: Path) -> bytes:
    """The tarball of package@version, by `npm pack`, checked against `integrity`."""
    result = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    name = json.loads(result.stdout)[0]["filename"]
    data = (folder / name).read_bytes()
    if _integrity(data) != integrity:
        raise SystemExit(f"{package}@{version}: integrity {_integrity(data)} is not the pinned {integrity}")
    return data


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    versions = {}
    with tempfile.TemporaryDirectory() as scratch:
        for package, (version, integrity, files) in PACKAGES.items():
            tarball = fetch(package, version, integrity, Path(scratch))
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
                for member, name in files.items():
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        raise SystemExit(f"{package}@{version} has no {member}")
                    data = extracted.read()
                    if name.endswith((".js", ".css")):
                        data = _without_source_map(data)
                    (TARGET / name).write_bytes(data)
            versions[package] = {"version": version, "integrity": integrity}
    (TARGET / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")
    print(f"vendored {', '.join(f'{p}@{v[0]}' for p, v in PACKAGES.items())} into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
