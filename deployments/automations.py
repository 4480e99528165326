"""Alerts on learnsync runs: Prefect automations that send a notification block's message when a
learnsync flow run ends Failed, Crashed or Completed with errors.

The operator picks the block (Slack, e-mail, PagerDuty, a webhook...) by its `type/name` slug,
e.g. `slack-webhook/on-call`. Runs are matched by the `learnsync` tag every deployment carries.
"""

from __future__ import annotations

from dataclasses import dataclass

RUN_TAG = "learnsync"


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # the flow run state name the event carries ("prefect.flow-run.<state>")
    description: str


ALERTS = (
    Alert("learnsync: run failed", "Failed", "A learnsync run failed: nothing was archived on a partial catalog; see its summary."),
    Alert("learnsync: run crashed", "Crashed", "A learnsync run crashed (its process or infrastructure died); retry it."),
    Alert(
        "learnsync: run completed with errors",
        "Completed with errors",
        "A learnsync run went through but items failed or were newly quarantined; see its errors artifact.",
    ),
)

BODY = (
    "{{ flow_run.name }} ended {{ flow_run.state.name }}: {{ flow_run.state.message }}\n"
    "Deployment: {{ deployment.name }}\n{{ flow_run|ui_url }}"
)


def alert_trigger(alert: Alert) -> object:
    from prefect.events.schemas.automations import EventTrigger, Posture

    return EventTrigger(
        expect={f"prefect.flow-run.{alert.state}"},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{RUN_TAG}"},
        posture=Posture.Reactive,
        threshold=1,
        within=0,
    )


async def ensure_automations(notify_block: str) -> list[str]:
    """Create or update the three alerts, sending through the block `type/name`."""
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import SendNotification

    block_type, _, block_name = notify_block.partition("/")
    if not block_name:
        raise ValueError(f"notification block {notify_block!r}: give it as type/name, e.g. slack-webhook/on-call")
    async with get_client() as client:
        block = await client.read_block_document_by_name(name=block_name, block_type_slug=block_type)
        existing = {a.name: a for a in await client.read_automations()}
        for alert in ALERTS:
            automation = Automation(
                name=alert.name,
                description=alert.description,
                enabled=True,
                tags=[RUN_TAG],
                trigger=alert_trigger(alert),
                actions=[
                    SendNotification(
                        block_document_id=block.id,
                        subject=f"learnsync: {{{{ flow_run.name }}}} {alert.state}",
                        body=BODY,
                    )
                ],
            )
            if alert.name in existing:
                automation.id = existing[alert.name].id
                await automation.aupdate()
            else:
                await automation.acreate()
    return [a.name for a in ALERTS]
