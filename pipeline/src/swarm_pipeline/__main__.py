"""Run pipeline stages as a Dagger client, without the module runtime.

    python -m swarm_pipeline ci --approve        # PYTHONPATH=pipeline/src, engine reachable

`dagger call …` needs the engine's builtin Python SDK; this drives the very same
SwarmPipeline functions from a plain session (`dagger run`, or _EXPERIMENTAL_DAGGER_CLI_BIN
and _EXPERIMENTAL_DAGGER_RUNNER_HOST), which is how a machine without that SDK runs them.
"""

import argparse
import asyncio
import sys
from pathlib import Path

import dagger
from dagger import dag

from .main import SOURCE_IGNORE, StageFailed, SwarmPipeline, failure_text

ROOT = Path(__file__).resolve().parents[3]
STAGES = (
    "lint", "test", "sast", "build", "deploy_staging", "load_test", "deploy", "smoke",
    "release", "ci",
)  # fmt: skip


async def run_stage(stage: str, approve: bool, python_image: str, load_profile: str) -> str:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        source = dag.host().directory(str(ROOT), exclude=SOURCE_IGNORE)
        pipeline = SwarmPipeline(source=source, python_image=python_image)
        if stage == "ci":
            return await pipeline.ci(approve=approve, load_profile=load_profile)
        if stage == "build":
            images = await pipeline.build()
            return f"built {len(images)} images"
        if stage == "load_test":
            return await (await pipeline.load_test(load_profile)).contents()
        result: str = await getattr(pipeline, stage)()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--approve", action="store_true", help="ci: go on past the gate")
    parser.add_argument("--python-image", default="python:3.11-slim")
    parser.add_argument("--load-profile", default="ci", help="k6 profile (k6/profiles.json)")
    args = parser.parse_args()
    try:
        stage = run_stage(args.stage, args.approve, args.python_image, args.load_profile)
        print(asyncio.run(stage))
    except (dagger.ExecError, StageFailed) as error:
        # The session log shows everything; this is the part that says what failed.
        sys.exit(f"{args.stage} failed: {failure_text(error)}")


if __name__ == "__main__":
    main()
