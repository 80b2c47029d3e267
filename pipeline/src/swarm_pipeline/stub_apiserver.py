"""A stand-in for a cluster's API server, just enough for `kubectl apply --dry-run=client`.

Why it exists: even a client-side dry run asks the server which kinds exist (discovery)
and whether each object is already there (GET). There is no cluster here, so this
answers discovery for the kinds deploy/k8s uses and says that no object exists yet; the
dry run then reports every object as "created". Writes are refused, so a real apply
against it fails loudly. Standalone (stdlib only): the pipeline runs it as a service.

    python stub_apiserver.py --host 127.0.0.1 --port 8080
"""

import argparse
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

logger = logging.getLogger("stub-apiserver")


class Kind(NamedTuple):
    group: str  # "" is the core group, served under /api
    version: str
    kind: str
    plural: str
    namespaced: bool


KINDS = (
    Kind("", "v1", "Namespace", "namespaces", False),
    Kind("", "v1", "Service", "services", True),
    Kind("", "v1", "ConfigMap", "configmaps", True),
    Kind("", "v1", "Secret", "secrets", True),
    Kind("", "v1", "ServiceAccount", "serviceaccounts", True),
    Kind("apps", "v1", "Deployment", "deployments", True),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
)
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def group_version(kind: Kind) -> str:
    return f"{kind.group}/{kind.version}" if kind.group else kind.version


def discovery_documents() -> dict[str, dict[str, Any]]:
    """Every discovery answer, keyed by URL path."""
    documents: dict[str, dict[str, Any]] = {
        "/version": {"major": "1", "minor": "37", "gitVersion": "v1.37.0-stub"},
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    }
    groups: dict[str, list[str]] = {}
    for kind in KINDS:
        prefix = f"/apis/{kind.group}" if kind.group else "/api"
        resources = documents.setdefault(
            f"{prefix}/{kind.version}",
            {"kind": "APIResourceList", "groupVersion": group_version(kind), "resources": []},
        )
        resources["resources"].append(
            {
                "name": kind.plural,
                "singularName": kind.kind.lower(),
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": VERBS,
            }
        )
        if kind.group and kind.version not in groups.setdefault(kind.group, []):
            groups[kind.group].append(kind.version)
    documents["/apis"] = {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(name, versions) for name, versions in groups.items()],
    }
    return documents


def _api_group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def status(code: HTTPStatus, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.value,
    }


class StubApiHandler(BaseHTTPRequestHandler):
    documents = discovery_documents()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        document = self.documents.get(path)
        if document is not None:
            self._answer(HTTPStatus.OK, document)
        else:
            self._answer(
                HTTPStatus.NOT_FOUND, status(HTTPStatus.NOT_FOUND, "NotFound", f"{path} not found")
            )

    def _refuse_write(self) -> None:
        message = "stub API server: only client-side dry runs are possible, nothing is stored"
        self._answer(HTTPStatus.FORBIDDEN, status(HTTPStatus.FORBIDDEN, "Forbidden", message))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse_write

    def _answer(self, code: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    server = ThreadingHTTPServer((args.host, args.port), StubApiHandler)
    logger.info("serving on %s:%d", *server.server_address[:2])
    server.serve_forever()


if __name__ == "__main__":
    main()
