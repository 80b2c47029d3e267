"""What crosses a process boundary, defined once: core, agent, tool server, sandbox and scripts
all import it (docs/contract.md).

- `contract.tasks`: task kinds, statuses, payloads, the file-path rule and the limits a task
  must keep so that the core only accepts what an agent can run.
- `contract.wire`: the JSON bodies agents and the core exchange (register, lease, start,
  result, heartbeat) and the task as the API shows it.
- `contract.keys`: roles and the HYPERCODE_API_KEYS entry shape.

Only pydantic is needed, so the agent image carries it without the core's dependencies.
The Dagger module cannot import it (its source is pipeline/ alone): its copy of the roles and
key shape is pinned to this one by tests/pipeline/test_keys_contract.py.
"""
