#!/usr/bin/env python3
"""Checks docker-compose.yaml without Docker (no engine, no compose plugin on the machines):

- the file against the Compose Specification's JSON schema, vendored in deploy/compose-spec.json
  (schema/compose-spec.json of the compose-spec project, Apache-2.0), so no network is needed;
- the scaling rules: only nginx publishes ports (replicas of a service that publishes a fixed
  host port collide), and the files nginx mounts exist.

Needs python3 with PyYAML and jsonschema (Debian: python3-yaml python3-jsonschema).
Exit 0 when the file passes, 1 with one line per problem otherwise.
"""

import json
import pathlib
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCALED = ("api", "notifier")


def problems(compose, schema):
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        yield f"schema: {where}: {error.message}"
    services = compose.get("services", {})
    for name in SCALED + ("nginx",):
        if name not in services:
            yield f"services: no `{name}` service"
    for name in SCALED:
        if services.get(name, {}).get("ports"):
            yield f"services/{name}: publishes ports, so `--scale {name}=2` collides: only nginx publishes"
    for volume in services.get("nginx", {}).get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith(".") and not (ROOT / source).exists():
            yield f"services/nginx: mounts {source}, which does not exist"


def main():
    path = ROOT / (sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yaml")
    schema = json.loads((ROOT / "deploy" / "compose-spec.json").read_text())
    # safe_load resolves the anchors and `<<` merges as Compose does; ${...} stays text,
    # which the schema accepts wherever interpolation may stand.
    compose = yaml.safe_load(path.read_text())
    found = list(problems(compose, schema))
    for problem in found:
        print(f"{path.name}: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"{path.name}: valid Compose file; only nginx publishes ports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
