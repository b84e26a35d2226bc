"""Helpers for scripts/run-local.sh; each prints one line: <statusCode>\t<outcome>\t<compact body>.

  lambda-answer.py summarize < response.json
      a Lambda proxy response (as `cargo lambda invoke --output-format json` prints it)
  lambda-answer.py post <base url> <event file>
      replays an API Gateway v2 sample event over HTTP: POSTs its body, headers and query string
      to <base url> (e.g. http://127.0.0.1:9000/lambda-url/partoo/)

<outcome> is the answer body's "status", "error" for an {"error": ...} body, "-" otherwise.
"""

import json
import sys
import urllib.error
import urllib.request


def line(code, body):
    try:
        parsed = json.loads(body)
        outcome = parsed.get("status") or ("error" if "error" in parsed else "-")
        body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, AttributeError):
        outcome = "-"
        body = " ".join(body.split())[:300]
    return f"{code}\t{outcome}\t{body}"


def summarize(text):
    try:
        answer = json.loads(text)
        return line(answer["statusCode"], answer.get("body") or "")
    except (ValueError, KeyError, TypeError):
        return "-\tno-answer\t" + " ".join(text.split())[:300]


def post(base_url, event_file):
    with open(event_file, encoding="utf-8") as f:
        event = json.load(f)
    url = base_url + ("?" + event["rawQueryString"] if event.get("rawQueryString") else "")
    skip = {"host", "content-length"}
    headers = {k: v for k, v in event.get("headers", {}).items() if k not in skip}
    request = urllib.request.Request(
        url, data=event.get("body", "").encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return line(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return line(err.code, err.read().decode("utf-8", "replace"))
    except OSError as err:
        return f"-\tno-answer\t{err}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["summarize"]:
        print(summarize(sys.stdin.read()))
    elif sys.argv[1:2] == ["post"] and len(sys.argv) == 4:
        print(post(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
