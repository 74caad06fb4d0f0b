"""Role keys and their display labels.

Lanes in the BPMN are named after roles (either the Chinese label or the key), so the lane a user
task sits in says which role's members are offered the task. The keys are what code and the CLI use.
"""

ROLE_LABELS: dict[str, str] = {
    "grid_worker": "网格员",
    "intake": "受理员",
    "dispatcher": "派遣员",
    "shift_leader": "值班长",
    "handler": "部门处置员",
    "verifier": "核查员",
    "evaluator": "考核员",
    "supervisor": "督办员",
    "auditor": "审计员",
    "designer": "流程设计员",
    "admin": "系统管理员",
}

ROLE_LABELS_EN: dict[str, str] = {
    "grid_worker": "Grid worker",
    "intake": "Intake clerk",
    "dispatcher": "Dispatcher",
    "shift_leader": "Shift leader",
    "handler": "Department handler",
    "verifier": "Verifier",
    "evaluator": "Evaluator",
    "supervisor": "Supervisor",
    "auditor": "Auditor",
    "designer": "Process designer",
    "admin": "Administrator",
}

ROLE_KEYS: tuple[str, ...] = tuple(ROLE_LABELS)
# who designs processes: deploys, activates, retires, rolls back, migrates, and plays a period through a version
DESIGN_ROLES: tuple[str, ...] = ("designer", "admin")


def role_for_lane(lane_name: str | None) -> str | None:
    """Return the role key a lane stands for, or None when the lane names no known role.

    A lane may be named by the role's Chinese label ("网格员") or by its key ("grid_worker").
    """
    if not lane_name:
        return None
    name = lane_name.strip()
    if name in ROLE_LABELS:
        return name
    for key, label in ROLE_LABELS.items():
        if label == name:
            return key
    return None
