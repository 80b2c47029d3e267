from tests.conftest import Api, CoreFactory


def test_crash_and_restart_lose_no_accepted_task(
    start_core: CoreFactory, database_url: str
) -> None:
    core = start_core(database_url, lease_ttl_s=1, reaper_interval_s=0.2)
    api = Api(core)
    accepted = [api.submit(f"print({i})")["id"] for i in range(50)]
    agent = api.register_agent()
    in_flight = api.lease(agent)
    assert in_flight is not None

    core.kill()  # SIGKILL: no shutdown hook runs
    core.start()

    tasks = [api.task(task_id) for task_id in accepted]
    assert all(t["status"] in ("queued", "leased") for t in tasks)
    survivor = api.register_agent("after-restart")
    done: list[str] = []
    while len(done) < len(accepted):
        lease = api.lease(survivor, wait_s=5)
        assert lease is not None, f"only {len(done)} of {len(accepted)} tasks came back"
        assert api.report(survivor, lease).status_code == 200
        done.append(lease["task"]["id"])
    assert sorted(done) == sorted(accepted)  # each once, the in-flight one after its lease expired
    api.close()
