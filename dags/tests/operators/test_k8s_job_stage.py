"""
A ``k8s_job`` stage is a hand-off to the ``gpu.batch`` flow: the generated DAG's task defers while
the flow runs the Kubernetes Job, and its input is what the flow's schema takes (a DNS-label name,
quantities as strings, whole GPUs).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from tandem_airflow.operators.handoff import TemporalHandoffOperator
from tandem_airflow.operators.pipeline_stages import PipelinePartition, job_name, k8s_job_stage

PARTITION = PipelinePartition("kb-refresh", "radiology", "ward-a", True)


def embed_stage(**overrides):
    args = {
        "image": "registry.local/embedder:1.4",
        "command": ["python", "-m", "embedder", "--partition", "{partition}"],
        "env": {"BATCH_SIZE": "64"},
        "resources": {
            "requests": {"cpu": 4, "memory": "8Gi", "nvidia.com/gpu": 1},
            "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": 1},
        },
        "spot": True,
        "fault_tolerant": True,
        "retries": 3,
        "retry_delay_seconds": 300,
    }
    args.update(overrides)
    with DAG("tandem__kb-refresh", start_date=pendulum.datetime(2026, 1, 1), schedule=None):
        return k8s_job_stage("embed_chunks", PARTITION, **args)


def test_the_stage_is_a_deferrable_handoff_to_gpu_batch():
    operator = embed_stage()
    assert isinstance(operator, TemporalHandoffOperator)
    assert operator.workflow_type == "gpu.batch"
    assert (operator.pipeline_id, operator.department, operator.partition) == ("kb-refresh", "radiology", PARTITION)
    assert operator.retries == 3 and operator.retry_delay.total_seconds() == 300


def test_the_flow_input_is_shaped_for_the_gpu_batch_schema():
    assert embed_stage().workflow_input == {
        "name": "embed-chunks",
        "image": "registry.local/embedder:1.4",
        "command": ["python", "-m", "embedder", "--partition", "{partition}"],
        "env": {"BATCH_SIZE": "64"},
        "resources": {
            "requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": 1},
            "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": 1},
        },
        "spot": True,
        "faultTolerant": True,
    }


def test_a_stage_without_gpus_asks_for_none():
    operator = embed_stage(resources={"requests": {"cpu": "1", "nvidia.com/gpu": 0}, "limits": {"cpu": "1", "nvidia.com/gpu": 0}}, spot=False, fault_tolerant=False)
    assert operator.workflow_input["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}


def test_job_names_are_dns_labels_of_at_most_40_characters():
    assert job_name("Embed_Chunks.v2") == "embed-chunks-v2"
    assert job_name("x" * 60) == "x" * 40
    assert job_name("a" * 39 + "_b") == "a" * 39
    assert job_name("__") == "job"
