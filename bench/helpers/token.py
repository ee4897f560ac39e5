"""The Python helper of the whole-process comparison (bench/process.sh): prints the access
token of a JSON credentials file, as the sample code of many guides does: read the file, check
the expiry, print the token. The benchmark's token is always fresh, so no refresh is needed;
an expired one is reported (exit 1) instead of being printed."""

import json
import sys
import time


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python3 token.py CREDENTIALS.json", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        creds = json.load(f)
    token = creds.get("access_token")
    if not isinstance(token, str) or not creds.get("expires_at", 0) > time.time() + 30:
        print(f"the access token in {sys.argv[1]} has expired: refresh it", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
