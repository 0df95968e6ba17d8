"""
Hook for the control API's fingerprint endpoints (service role): what was last committed for a
partition, whether freshly computed fingerprints differ from it, and committing them after the
partition's stages succeeded. The API decides "changed" so that every task, and the
``GET /v1/pipelines/{id}/partitions`` view, use one rule.
"""

from __future__ import annotations

from typing import Any

from tandem_airflow.hooks.tandem_api import TandemApiHook


class TandemFingerprintHook(TandemApiHook):
    """``/v1/fingerprints`` through the ``tandem_default`` connection."""

    hook_name = "tandem control API (fingerprints)"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.client() as client:
            response = client.post(path, json=body)
            response.raise_for_status()
            return response.json()

    def committed(self, pipeline_id: str, partition: str) -> dict[str, dict[str, Any]]:
        """``{source: {"identity": str, "value": {...}}}`` of the last committed fingerprints."""
        with self.client() as client:
            response = client.get("/v1/fingerprints", params={"pipelineId": pipeline_id, "partition": partition})
            response.raise_for_status()
            return {item["source"]: item for item in response.json()["sources"]}

    def check(
        self, pipeline_id: str, partition: str, run_id: str, force: bool, fingerprints: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        """``{"changed": bool, "reasons": [str, ...]}``; the API records the values as pending for ``run_id``."""
        return self._post(
            "/v1/fingerprints/check",
            {
                "pipelineId": pipeline_id,
                "partition": partition,
                "runId": run_id,
                "force": force,
                "sources": [{"source": name, **fp} for name, fp in fingerprints.items()],
            },
        )

    def commit(self, pipeline_id: str, partition: str, run_id: str, fingerprints: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"pipelineId": pipeline_id, "partition": partition, "runId": run_id}
        if fingerprints is not None:
            body["sources"] = [{"source": name, **fp} for name, fp in fingerprints.items()]
        return self._post("/v1/fingerprints/commit", body)
