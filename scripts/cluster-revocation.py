#!/usr/bin/env python3
"""How fast a logout and an account deletion reach the other api of a running cluster.

    scripts/cluster.sh start 2 2
    python3 scripts/cluster-revocation.py [--trials 20] [--state target/cluster]

Reads the api ports from <state>/processes (CLUSTER_STATE_DIR of scripts/cluster.sh). Each trial
logs a fresh session in on api A, logs it out there and polls `GET /users/me` on api B, over a
kept-alive connection, until B answers 401; A and B swap every trial. Then, per trial, an
account deleted on A: the status of B's very first request with its token, and how long until
B refuses it on `GET /timeline`, a route that does not read the account. Prints the figures
and one JSON line last. Standard library only.
"""

import argparse
import http.client
import json
import pathlib
import statistics
import sys
import time
import uuid

PASSWORD = "correct horse"


class Api:
    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method, path, token=None, body=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        payload = json.dumps(body) if body is not None else None
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)


def api_ports(state):
    ports = []
    for line in (state / "processes").read_text().splitlines():
        kind, _, _, port = line.split()
        if kind == "api":
            ports.append(int(port))
    if len(ports) < 2:
        sys.exit(f"need two apis in {state}/processes, found {len(ports)}")
    return ports[:2]


def session(api, name):
    status, _ = api.call("POST", "/api/v1/auth/register", body={"username": name, "password": PASSWORD})
    assert status == 201, f"register {name}: {status}"
    status, tokens = api.call("POST", "/api/v1/auth/login", body={"username": name, "password": PASSWORD})
    assert status == 200, f"login {name}: {status}"
    return tokens


def refused_after(api, path, token, since, limit=5.0):
    while True:
        status, body = api.call("GET", path, token)
        if status == 401:
            return (time.monotonic() - since) * 1000, body
        if time.monotonic() - since > limit:
            return None, body
        time.sleep(0.001)


def summary(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"n": len(values), "p50": round(pick(0.5), 1), "p90": round(pick(0.9), 1), "max": round(values[-1], 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--state", default="target/cluster")
    args = parser.parse_args()
    apis = [Api(port) for port in api_ports(pathlib.Path(args.state))]
    tag = uuid.uuid4().hex[:8]

    logout_ms, missed = [], 0
    for trial in range(args.trials):
        one, other = apis[trial % 2], apis[1 - trial % 2]
        tokens = session(one, f"lo{tag}{trial}")
        access = tokens["access_token"]
        assert other.call("GET", "/api/v1/users/me", access)[0] == 200
        status, _ = one.call("POST", "/api/v1/auth/logout", access, {"refresh_token": tokens["refresh_token"]})
        since = time.monotonic()
        assert status == 204, f"logout: {status}"
        took, _ = refused_after(other, "/api/v1/users/me", access, since)
        if took is None:
            missed += 1
        else:
            logout_ms.append(took)

    first_answers, timeline_ms = {}, []
    for trial in range(args.trials):
        one, other = apis[trial % 2], apis[1 - trial % 2]
        access = session(one, f"del{tag}{trial}")["access_token"]
        assert other.call("GET", "/api/v1/timeline", access)[0] == 200
        status, _ = one.call("DELETE", "/api/v1/users/me", access)
        since = time.monotonic()
        assert status == 204, f"delete: {status}"
        status, body = other.call("GET", "/api/v1/users/me", access)
        answer = f"{status} {(body or {}).get('code', '')}".strip()
        first_answers[answer] = first_answers.get(answer, 0) + 1
        took, _ = refused_after(other, "/api/v1/timeline", access, since)
        if took is not None:
            timeline_ms.append(took)

    result = {
        "logout_refused_by_other_api_ms": summary(logout_ms) if logout_ms else None,
        "logout_not_refused_within_5s": missed,
        "deleted_user_first_answer_on_other_api": first_answers,
        "deleted_user_timeline_refused_ms": summary(timeline_ms) if timeline_ms else None,
    }
    print(f"logout -> refused by the other api (ms): {result['logout_refused_by_other_api_ms']}")
    print(f"deleted user, the other api's first answer: {first_answers}")
    print(f"deleted user, /timeline refused by the other api after (ms): {result['deleted_user_timeline_refused_ms']}")
    print(json.dumps(result))
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
