#!/usr/bin/env python3
"""Load and check client of scripts/rabbit-drill.sh (run it through that script).

Registers an author and FOLLOWERS followers, connects every follower over WebSocket, posts at
RATE posts/s for BEFORE + AFTER seconds, and BEFORE seconds in kills -9 the RabbitMQ node the
api is connected to (found from the api's established TCP connections). A follower whose socket
drops reconnects with ?since=<the last event id it saw>. At the end it checks that every POST
answered 201, that every follower got every post exactly once, and that deliveries resumed
within RESUME_LIMIT seconds of the kill, prints a summary, and exits 1 when a check fails.
Needs the `websockets` package (the drill script installs it in a private venv).
"""

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import websockets
from websockets.asyncio.client import connect

PASSWORD = "drill-password-1234"


def http(method, url, body=None, token=None):
    """One JSON request; (status, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError as error:
        return f"error: {error}", None


def account(api, name):
    """Registers `name` and logs in: (user id, access token)."""
    status, user = http("POST", f"{api}/api/v1/auth/register", {"username": name, "password": PASSWORD})
    if status != 201:
        raise SystemExit(f"drill: registering {name} answered {status}")
    status, tokens = http("POST", f"{api}/api/v1/auth/login", {"username": name, "password": PASSWORD})
    if status != 200:
        raise SystemExit(f"drill: logging in {name} answered {status}")
    return user["id"], tokens["access_token"]


def node_of(pid, ports):
    """The index (0-based) of the RabbitMQ port most of `pid`'s established connections go to."""
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        fields = line.split()
        peer_port = int(fields[3].rsplit(":", 1)[1])
        if peer_port in ports:
            counts[ports.index(peer_port)] += 1
    if not counts:
        raise SystemExit(f"drill: process {pid} holds no connection to ports {ports}")
    return counts.most_common(1)[0][0]


class Follower:
    def __init__(self, index, token):
        self.index = index
        self.token = token
        self.received = collections.Counter()  # post id -> deliveries
        self.arrival = {}  # post id -> monotonic time of the first delivery
        self.last_id = None
        self.drops = 0
        self.reconnect_gaps = []
        self.connected = asyncio.Event()
        self.stop = False

    async def run(self, ws_url):
        dropped_at = None
        while not self.stop:
            url = ws_url if self.last_id is None else f"{ws_url}?since={self.last_id}"
            try:
                async with connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                   open_timeout=5, max_size=2**20) as socket:
                    if dropped_at is not None:
                        self.reconnect_gaps.append(time.monotonic() - dropped_at)
                        dropped_at = None
                    self.connected.set()
                    async for frame in socket:
                        event = json.loads(frame)
                        if event.get("type") != "post.created":
                            continue
                        post_id = event["data"]["post"]["id"]
                        self.received[post_id] += 1
                        self.arrival.setdefault(post_id, time.monotonic())
                        self.last_id = event["id"]
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                pass
            if self.stop:
                return
            self.drops += 1
            dropped_at = dropped_at or time.monotonic()
            await asyncio.sleep(0.2)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of the api (or the balancer)")
    parser.add_argument("--ws", required=True, help="WebSocket URL of the notifier (…/ws)")
    parser.add_argument("--api-pid", type=int, required=True)
    parser.add_argument("--notifier-pid", type=int, help="to report which node the notifier was on")
    parser.add_argument("--ports", required=True, help="AMQP ports of the nodes, comma-separated")
    parser.add_argument("--pid-files", required=True, help="pid files of the nodes, comma-separated, same order")
    parser.add_argument("--followers", type=int, default=30)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--before", type=float, default=5.0, help="seconds of posting before the kill")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of posting after the kill")
    parser.add_argument("--resume-limit", type=float, default=3.0)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to wait for late deliveries")
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    pid_files = args.pid_files.split(",")

    stamp = uuid.uuid4().hex[:8]
    print(f"drill: registering 1 author and {args.followers} followers")
    author_id, author_token = await asyncio.to_thread(account, args.api, f"author_{stamp}")
    tokens = []
    for chunk in range(0, args.followers, 4):
        batch = range(chunk, min(chunk + 4, args.followers))
        tokens += await asyncio.gather(*(asyncio.to_thread(account, args.api, f"f{i}_{stamp}") for i in batch))
    for _, token in tokens:
        status, _ = await asyncio.to_thread(http, "PUT", f"{args.api}/api/v1/users/{author_id}/follow", None, token)
        if status != 204:
            raise SystemExit(f"drill: follow answered {status}")
    followers = [Follower(i, token) for i, (_, token) in enumerate(tokens)]
    tasks = [asyncio.create_task(f.run(args.ws)) for f in followers]
    await asyncio.wait_for(asyncio.gather(*(f.connected.wait() for f in followers)), 30)

    # A first post that every follower must see: the pipeline works before the drill.
    status, warm = await asyncio.to_thread(http, "POST", f"{args.api}/api/v1/posts", {"content": "warm-up"},
                                           author_token)
    if status != 201:
        raise SystemExit(f"drill: warm-up post answered {status}")
    deadline = time.monotonic() + 15
    while any(warm["id"] not in f.received for f in followers):
        if time.monotonic() > deadline:
            raise SystemExit("drill: the warm-up post did not reach every follower in 15 s")
        await asyncio.sleep(0.05)
    for f in followers:
        f.received.clear()
        f.arrival.clear()
    print(f"drill: {args.followers} followers connected and served; posting at {args.rate:g}/s "
          f"for {args.before:g} s, then kill -9 of the api's node, then {args.after:g} s more")

    sent = {}  # post id -> monotonic time the POST was sent
    statuses = collections.Counter()
    post_seconds = []
    killed = {}

    async def post(n):
        started = time.monotonic()
        status, body = await asyncio.to_thread(http, "POST", f"{args.api}/api/v1/posts",
                                               {"content": f"drill {stamp} #{n}"}, author_token)
        post_seconds.append(time.monotonic() - started)
        statuses[status] += 1
        if status == 201:
            sent[body["id"]] = started

    async def kill():
        node = node_of(args.api_pid, ports)
        if args.notifier_pid:
            killed.update(notifier_node=node_of(args.notifier_pid, ports) + 1)
        with open(pid_files[node]) as file:
            pid = int(file.read().strip())
        os.kill(pid, signal.SIGKILL)
        killed.update(at=time.monotonic(), node=node + 1, port=ports[node], pid=pid)
        print(f"drill: kill -9 node {node + 1} (127.0.0.1:{ports[node]}, pid {pid}), the api's node")

    total = int((args.before + args.after) * args.rate)
    kill_after = int(args.before * args.rate)
    begin = time.monotonic()
    posts = []
    for n in range(total):
        if n == kill_after:
            await kill()
        await asyncio.sleep(max(0.0, begin + n / args.rate - time.monotonic()))
        posts.append(asyncio.create_task(post(n)))
    await asyncio.gather(*posts)
    posting_ended = time.monotonic()

    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline and any(set(sent) - set(f.received) for f in followers):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # a duplicate would arrive late
    for f in followers:
        f.stop = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # The checks.
    kill_at = killed["at"]
    expected = set(sent)
    missing = sum(len(expected - set(f.received)) for f in followers)
    duplicates = sum(count - 1 for f in followers for count in f.received.values() if count > 1)
    strangers = sum(1 for f in followers for post_id in f.received if post_id not in expected)
    after_kill = [sent_at for sent_at in sent.values() if sent_at >= kill_at]
    first_after = min((f.arrival[p] for f in followers for p in f.arrival if sent[p] >= kill_at), default=None)
    resume = None if first_after is None else first_after - kill_at
    latencies_before = [f.arrival[p] - sent[p] for f in followers for p in f.arrival if sent[p] < kill_at]
    latencies_after = [f.arrival[p] - sent[p] for f in followers for p in f.arrival if sent[p] >= kill_at]
    # The slowest post sent after the kill: when its last follower had it, relative to the kill.
    last_delivery = max((max(f.arrival.get(p, float("inf")) for f in followers) for p in expected), default=0)

    print("drill: summary")
    print(f"  posts sent            {total} at {args.rate:g}/s over {posting_ended - begin:.1f} s "
          f"({len(after_kill)} after the kill)")
    print(f"  POST statuses         {dict(statuses)}; POST time p50 {percentile(post_seconds, 0.5) * 1000:.1f} ms, "
          f"max {max(post_seconds) * 1000:.1f} ms")
    notifier_node = killed.get("notifier_node")
    print(f"  killed                node {killed['node']} (127.0.0.1:{killed['port']}, pid {killed['pid']}) "
          f"{kill_at - begin:.2f} s into the posting" +
          (f"; the notifier was on node {notifier_node}" if notifier_node else ""))
    print(f"  deliveries            {sum(sum(f.received.values()) for f in followers)} received, "
          f"{len(expected) * len(followers)} expected ({len(expected)} posts x {len(followers)} followers)")
    print(f"  missing / duplicates  {missing} / {duplicates}" + (f"; {strangers} unknown posts" if strangers else ""))
    print(f"  socket drops          {sum(f.drops for f in followers)} "
          f"(followers reconnected with ?since=: {sum(1 for f in followers if f.drops)})")
    print(f"  delivery latency      before the kill p50 {percentile(latencies_before, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies_before, 0.99) * 1000:.1f} ms; after it p50 "
          f"{percentile(latencies_after, 0.5) * 1000:.1f} ms, p99 {percentile(latencies_after, 0.99) * 1000:.1f} ms, "
          f"max {max(latencies_after, default=float('nan')) * 1000:.1f} ms")
    print("  resume                " + ("no delivery after the kill" if resume is None else
                                        f"first delivery of a post sent after the kill {resume:.2f} s after the kill"))
    print(f"  last delivery         {last_delivery - kill_at:.2f} s after the kill "
          f"(posting ended {posting_ended - kill_at:.2f} s after it)")

    failures = []
    if set(statuses) != {201}:
        failures.append("a POST did not answer 201")
    if missing or duplicates or strangers:
        failures.append("a follower did not get every post exactly once")
    if resume is None or resume > args.resume_limit:
        failures.append(f"deliveries did not resume within {args.resume_limit:g} s")
    for failure in failures:
        print(f"drill: FAILED: {failure}")
    if not failures:
        print(f"drill: PASSED (every POST 201, every follower got every post once, resumed within "
              f"{args.resume_limit:g} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
