"""Three ``charter serve`` replicas, two workers and two gateways on one PostgreSQL agree.

Real processes on a database created for this test (``charter_replicas_<random>``):
every replica has a home of its own and shares only the database and the master key.
One test walks through every guarantee of docs/replicas.md in turn (one cluster,
started once, whichever xdist worker runs it):

* a suspension, a revoked access token, a revoked PEP key or API token and a roles
  change made through one replica (or another process) reach every replica's answers, and
  both gateways', within a second;
* a client assertion ``jti`` or a DPoP proof used at one replica (or gateway) is
  refused at another;
* concurrent writes through every replica leave one intact audit chain;
* two workers started together run each job once (leases);
* a replica killed with SIGKILL in the middle of writes loses none it acknowledged.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import postgres_url
from tests.support.replicas import (
    ISSUER,
    Replica,
    cluster_env,
    deploy_argv,
    free_port,
    new_master_key,
    private_database,
    replicas,
    spawn,
    stop,
    wait_for,
)
from tests.support.server import (
    TEST_ADMIN_EMAIL,
    Credentials,
    seed_credentials,
)
from tests.unit.gateway.stack import (
    GATEWAY_IMPORTS,
    HELPDESK_CHARTER,
    REVIEWER_CHARTER,
    ROLES,
    prepare_store,
    stdio_upstream,
    write_config,
)

from charter.config import Settings
from charter.domain.roles import parse_roles
from charter.domain.tokens.jwk import PrivateKey
from charter.sdk.credentials import AgentCredentials
from charter.services.context import Services

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: the promise: a change made anywhere reaches every replica's answers within this
WITHIN = 1.0
TOKEN_URL = f"{ISSUER}/oauth/token"
#: what agents address the gateway replicas as (a load balancer's name)
GATEWAY_HOST = "gateway.test"
GATEWAY = f"http://{GATEWAY_HOST}/mcp"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def charter_yaml(name: str) -> str:
    return yaml.safe_dump(
        {
            "name": name,
            "owner": "maria.garcia@acme.example",
            "purpose": "Written concurrently through every replica to test the audit chain.",
            "allow": [{"action": "read_ticket", "resource": "helpdesk:tools/read_ticket"}],
        }
    )


_pollers = threading.local()


def post(url: str, **options: Any) -> httpx.Response:
    """POST on this thread's keep-alive connection: a poller measures the replica, not
    the cost of a new connection per request."""
    clients: dict[str, httpx.Client] = _pollers.__dict__.setdefault("clients", {})
    origin = url.split("/", 3)[2]
    if origin not in clients:
        clients[origin] = httpx.Client()
    return clients[origin].post(url, **options)


class Cluster:
    def __init__(
        self,
        root: Path,
        env: Callable[[str], dict[str, str]],
        servers: list[Replica],
        gateways: list[str],
        keys: dict[str, PrivateKey],
        credentials: Credentials,
    ) -> None:
        self.root = root
        self.env = env
        self.servers = servers
        self.gateways = gateways
        self.keys = keys
        self.pep = credentials.pep_key
        self.admin = credentials.admin_token

    def admin_client(self, replica: Replica, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return httpx.Client(base_url=replica.url, headers=headers, timeout=30)

    def decide(self, replica: Replica, subject: dict[str, str], pep: str | None = None) -> Any:
        answer = post(
            f"{replica.url}/access/v1/evaluation",
            json={
                "subject": subject,
                "action": {"name": "read_ticket"},
                "resource": {"type": "helpdesk", "id": "tools/read_ticket"},
            },
            headers={"Authorization": f"Bearer {pep or self.pep}"},
            timeout=10,
        )
        if answer.status_code != 200:
            return answer.status_code
        return answer.json()["decision"]

    def active(self, replica: Replica, token: str) -> bool:
        answer = post(
            f"{replica.url}/oauth/introspect",
            data={"token": token},
            headers={"Authorization": f"Bearer {self.pep}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["active"])

    def through_gateway(self, token: str, index: int = 0, proof: str | None = None) -> int:
        """tools/list at one gateway replica, addressed as the load balancer would."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {
            "Authorization": f"{'DPoP' if proof else 'Bearer'} {token}",
            "Accept": "application/json, text/event-stream",
            "Host": GATEWAY_HOST,
            **({"DPoP": proof} if proof else {}),
        }
        url = f"{self.gateways[index]}/mcp"
        return post(url, json=body, headers=headers, timeout=10).status_code

    def credentials(self, agent: str, replica: Replica, **options: Any) -> AgentCredentials:
        return AgentCredentials(agent, self.keys[agent], base_url=replica.url, **options)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not available (see the warning above for how to enable it)")
    root = tmp_path_factory.mktemp("replicas")
    master = new_master_key()
    with pytest.MonkeyPatch.context() as patch, private_database(base) as database:
        patch.setenv("CHARTER_MASTER_KEY", master)  # the setup below runs in this process

        def env(name: str) -> dict[str, str]:
            return cluster_env(root, database, name, CHARTER_MASTER_KEY=master)

        setup = env("setup")
        keys = prepare_store(setup, [HELPDESK_CHARTER, REVIEWER_CHARTER])
        services = Services.from_settings(Settings.from_env(setup))
        try:
            services.decisions.apply_roles(parse_roles(ROLES), actor="test:setup", source="test")
        finally:
            services.decisions.close()
            services.close()
        credentials = seed_credentials(setup)
        gateways: list[tuple[str, Any]] = []
        try:
            for index in range(2):  # two gateway replicas behind one public URL
                gateway_env = env(f"gateway-{index}")
                home = Path(gateway_env["CHARTER_HOME"])
                config = write_config(home, stdio_upstream())
                port = free_port()
                command = deploy_argv(
                    "gateway",
                    host="127.0.0.1",
                    gateway_config=str(config),
                    gateway_port=port,
                    gateway_metrics_port=free_port(),
                )
                started = spawn(
                    [*command, "--resource", GATEWAY],
                    gateway_env,
                    home / "gateway.log",
                    preload=GATEWAY_IMPORTS,
                )
                gateways.append((f"http://127.0.0.1:{port}", started))
            with replicas([env(f"replica-{i}") for i in range(3)]) as servers:
                for index, (origin, process) in enumerate(gateways):
                    log = root / f"gateway-{index}" / "gateway.log"
                    wait_for(f"{origin}/healthz", process, log)
                yield Cluster(
                    root, env, servers, [origin for origin, _ in gateways], keys, credentials
                )
        finally:
            stop(*(process for _, process in gateways))


def seconds_until(condition: Callable[[], bool], *, limit: float = 10.0) -> float:
    """When, after now, the first request that finds ``condition`` true was sent.

    Polled back to back: the change reached the replica between the previous answer's
    request and this one's answer, so this is right to within one round trip, which
    on a loaded two-core host (every test worker busy) can be a good part of a second.
    """
    started = time.monotonic()
    while True:
        sent = time.monotonic()
        if condition():
            return sent - started
        if sent - started > limit:
            raise AssertionError(f"still not so after {limit} s")
        time.sleep(0.01)


def seconds_until_all(**conditions: Callable[[], bool]) -> dict[str, float]:
    """When each condition first holds, polled side by side (one poller each) from now."""
    with ThreadPoolExecutor(max_workers=len(conditions)) as pool:
        futures = {name: pool.submit(seconds_until, check) for name, check in conditions.items()}
        return {name: round(future.result(), 3) for name, future in futures.items()}


def assert_within(took: dict[str, float], what: str) -> None:
    late = {name: seconds for name, seconds in took.items() if seconds > WITHIN}
    assert not late, f"{what} reached these only after {WITHIN} s: {late} (all: {took})"


def _suspension_reaches_every_replica_and_the_gateway(cluster: Cluster) -> None:
    a, b, c = cluster.servers
    agent = {"type": "agent", "id": "helpdesk-bot"}
    token = cluster.credentials("helpdesk-bot", a).token("read_ticket", resource=GATEWAY)
    assert [cluster.decide(r, agent) for r in (a, b, c)] == [True, True, True]
    assert cluster.active(c, token.value)
    assert cluster.through_gateway(token.value) != 401
    with cluster.admin_client(a) as client:
        answer = client.post("/v1/agents/helpdesk-bot/suspend", json={"reason": "incident"})
        assert answer.status_code == 200, answer.text
    took = seconds_until_all(
        decision_b=lambda: cluster.decide(b, agent) is False,
        decision_c=lambda: cluster.decide(c, agent) is False,
        token_b=lambda: not cluster.active(b, token.value),
        token_c=lambda: not cluster.active(c, token.value),
        gateway_0=lambda: cluster.through_gateway(token.value, 0) == 401,
        gateway_1=lambda: cluster.through_gateway(token.value, 1) == 401,
    )
    assert_within(took, "the suspension")


def _revoked_token_reaches_every_replica(cluster: Cluster) -> None:
    a, b, c = cluster.servers
    credentials = cluster.credentials("ticket-reviewer", a)
    token = credentials.token("read_ticket", resource=GATEWAY).value
    assert cluster.active(b, token) and cluster.active(c, token)
    assert cluster.through_gateway(token) != 401
    credentials.revoke(token)
    took = seconds_until_all(
        b=lambda: not cluster.active(b, token),
        c=lambda: not cluster.active(c, token),
        gateway=lambda: cluster.through_gateway(token) == 401,
    )
    assert_within(took, "the token's revocation")


def _revoked_pep_key_and_api_token_reach_every_replica(cluster: Cluster) -> None:
    """Issued and revoked by another process (here the test's own), as the CLI would."""
    _, b, c = cluster.servers
    services = Services.from_settings(Settings.from_env(cluster.env("cli")))
    try:
        keys = services.auth.keys
        pep = keys.add_pep_key("replica-pep", actor="test").secret
        issued = keys.create_api_token(
            TEST_ADMIN_EMAIL, name="replica-token", expires_in=None, actor="test"
        )
        reviewer = {"type": "agent", "id": "ticket-reviewer"}
        with (
            cluster.admin_client(b, issued.secret) as on_b,
            cluster.admin_client(c, issued.secret) as on_c,
        ):
            for replica in (b, c):
                assert cluster.decide(replica, reviewer, pep) is True
            assert on_b.get("/v1/people").status_code == 200
            assert on_c.get("/v1/people").status_code == 200
            keys.revoke_pep_key("replica-pep", actor="test")
            keys.revoke_api_token(issued.token.id, actor="test")
            took = seconds_until_all(
                pep_b=lambda: cluster.decide(b, reviewer, pep) == 401,
                pep_c=lambda: cluster.decide(c, reviewer, pep) == 401,
                api_token_b=lambda: on_b.get("/v1/people").status_code == 401,
                api_token_c=lambda: on_c.get("/v1/people").status_code == 401,
            )
    finally:
        services.close()
    assert_within(took, "the revocations")


def _roles_change_reaches_every_replica(cluster: Cluster) -> None:
    _, b, c = cluster.servers
    person = {"type": "user", "id": "noah.smith@acme.example"}
    assert cluster.decide(b, person) is True and cluster.decide(c, person) is True
    services = Services.from_settings(Settings.from_env(cluster.env("cli")))
    try:
        empty = parse_roles({"version": 1, "roles": []})
        services.decisions.apply_roles(empty, actor="test", source="test")
    finally:
        services.decisions.close()
        services.close()
    took = seconds_until_all(
        b=lambda: cluster.decide(b, person) is False,
        c=lambda: cluster.decide(c, person) is False,
    )
    assert_within(took, "the roles change")


def _one_use_at_one_replica_is_refused_at_another(cluster: Cluster) -> None:
    a, b, _ = cluster.servers
    credentials = cluster.credentials("ticket-reviewer", a, dpop=True)
    assertion = credentials.client_assertion()
    form = {
        "grant_type": "client_credentials",
        "scope": "read_ticket",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    first = httpx.post(f"{a.url}/oauth/token", data=form)
    assert first.status_code == 200, first.text
    again = httpx.post(f"{b.url}/oauth/token", data=form)
    assert again.status_code in (400, 401), again.text
    assert "already" in again.text or "replay" in again.text, again.text

    proof = credentials.dpop_proof("POST", TOKEN_URL)
    fresh = {**form, "client_assertion": credentials.client_assertion()}
    bound = httpx.post(f"{a.url}/oauth/token", data=fresh, headers={"DPoP": proof})
    assert bound.status_code == 200, bound.text
    assert bound.json()["token_type"] == "DPoP"
    fresh = {**form, "client_assertion": credentials.client_assertion()}
    replayed = httpx.post(f"{b.url}/oauth/token", data=fresh, headers={"DPoP": proof})
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_dpop_proof", replayed.text


def _proof_at_one_gateway_is_refused_at_the_other(cluster: Cluster) -> None:
    credentials = cluster.credentials("ticket-reviewer", cluster.servers[0], dpop=True)
    token = credentials.token("read_ticket", resource=GATEWAY)
    assert token.token_type == "DPoP"
    proof = credentials.dpop_proof("POST", GATEWAY, access_token=token.value)
    assert cluster.through_gateway(token.value, 0, proof) != 401
    assert cluster.through_gateway(token.value, 1, proof) == 401
    fresh = credentials.dpop_proof("POST", GATEWAY, access_token=token.value)
    assert cluster.through_gateway(token.value, 1, fresh) != 401


def _register(replica: Replica, admin: str, name: str) -> int:
    answer = httpx.post(
        f"{replica.url}/v1/agents",
        content=charter_yaml(name),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/yaml"},
        timeout=30,
    )
    return answer.status_code


def _audit_chain_is_intact(cluster: Cluster, replica: Replica) -> dict[str, Any]:
    with cluster.admin_client(replica) as client:
        chain = client.get("/v1/audit/verify")
    assert chain.status_code == 200, chain.text
    body: dict[str, Any] = chain.json()
    assert body["ok"] is True, body
    return body


def _concurrent_writes_leave_one_intact_chain(cluster: Cluster) -> None:
    before = _audit_chain_is_intact(cluster, cluster.servers[0])["events"]
    jobs = [(cluster.servers[i % 3], f"chain-{i}") for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(lambda job: _register(job[0], cluster.admin, job[1]), jobs))
    assert codes == [201] * len(jobs)
    for replica in cluster.servers:  # every replica recomputes the same chain
        after = _audit_chain_is_intact(cluster, replica)
        assert after["events"] >= before + len(jobs)


def _two_workers_run_each_job_once(cluster: Cluster) -> None:
    outputs = []
    processes = []
    for index in range(2):
        env = cluster.env(f"worker-{index}")
        out = Path(env["CHARTER_HOME"]) / "worker.json"
        outputs.append(out)
        processes.append(spawn([*deploy_argv("worker"), "--once", "--json"], env, out))
    for process in processes:
        assert process.wait(timeout=60) == 0
    results = [json.loads(out.read_text()) for out in outputs]
    for job in ("workflows", "evaluate", "checkpoint"):
        ran = [result[job] for result in results if result[job] != "not due"]
        assert len(ran) == 1, f"{job} ran {len(ran)} times: {results}"


def _sigkill_loses_nothing_acknowledged(cluster: Cluster) -> None:
    a, _, victim = cluster.servers
    acknowledged: list[str] = []
    names = [f"kill-{i}" for i in range(40)]

    def write(name: str) -> None:
        try:
            if _register(victim, cluster.admin, name) == 201:
                acknowledged.append(name)
        except httpx.HTTPError:
            pass  # the replica died under this request: it was never acknowledged

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(write, name) for name in names]
        seconds_until(lambda: len(acknowledged) >= 5, limit=30)
        victim.process.send_signal(signal.SIGKILL)
        for future in futures:
            future.result()
    assert victim.process.wait(timeout=10) == -signal.SIGKILL
    assert 5 <= len(acknowledged) < len(names), acknowledged
    with cluster.admin_client(a) as client:
        for name in acknowledged:
            assert client.get(f"/v1/agents/{name}").status_code == 200, name
    _audit_chain_is_intact(cluster, a)


def test_replicas_workers_and_a_gateway_on_one_postgresql_agree(cluster: Cluster) -> None:
    _suspension_reaches_every_replica_and_the_gateway(cluster)
    _revoked_token_reaches_every_replica(cluster)
    _revoked_pep_key_and_api_token_reach_every_replica(cluster)
    _roles_change_reaches_every_replica(cluster)
    _one_use_at_one_replica_is_refused_at_another(cluster)
    _proof_at_one_gateway_is_refused_at_the_other(cluster)
    _concurrent_writes_leave_one_intact_chain(cluster)
    _two_workers_run_each_job_once(cluster)
    _sigkill_loses_nothing_acknowledged(cluster)  # last: it kills a replica
