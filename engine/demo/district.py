"""The demo district: a complete, small organisation to try gridloop on.

One district (清河区), two towns, four communities, twelve grids, the usual town and district departments,
and staff for every role in their scopes: the district command centre, a dispatcher at every community
workstation and town centre (so that a case climbs level by level), shift leaders of communities and towns. All demo accounts share one password, for the demo only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.demo import boundaries
from engine.org import geography, people, tree
from engine.store.models import OrgUnit

DEMO_PASSWORD = "gridloop-demo"
DISTRICT = ("330199", "清河区")
TOWNS = [("330199001", "东湖街道", "DH"), ("330199002", "西山镇", "XS")]
# Login suffixes of the towns' platform staff (``xs`` already names the 西山村 community's staff).
TOWN_LOGINS = {"330199001": "dh", "330199002": "xsz"}
COMMUNITIES = [
    ("330199001001", "湖滨社区", "330199001", "hb"),
    ("330199001002", "柳岸社区", "330199001", "la"),
    ("330199002001", "西山村", "330199002", "xs"),
    ("330199002002", "青石社区", "330199002", "qs"),
]
TOWN_DEPARTMENTS = [
    ("sanitation", "环卫所", "HW"),
    ("enforcement", "城管执法中队", "CG"),
    ("market", "市场监管所", "SJ"),
    ("police", "派出所", "PCS"),
    ("justice", "司法所", "SF"),
]
DISTRICT_DEPARTMENTS = [
    ("landscaping", "区园林绿化中心", "YL"),
    ("drainage", "区排水公司", "PS"),
    ("transport", "区交通运输局", "JT"),
    ("environment", "区生态环境分局", "ST"),
    ("housing", "区住房和城乡建设局", "ZJ"),
    ("emergency", "区应急管理局", "YJ"),
    ("civil_affairs", "区民政局", "MZ"),
]
GRID_WORKER_NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄强",
    "周婷",
    "吴刚",
    "徐丽",
    "孙浩",
]
GRID_LEADER_NAMES = ["何军", "冯雪", "曹勇", "彭燕"]
ORDINALS = ["一", "二", "三"]


@dataclass(frozen=True)
class DemoUser:
    """A demo account: its login, name, role, scope and department."""

    username: str
    display_name: str
    role: str
    scope_code: str
    department_code: str | None = None


def demo_users() -> list[DemoUser]:
    """Every demo account, in the order the README lists them."""
    district = DISTRICT[0]
    users = [
        DemoUser("admin", "系统管理员", "admin", district),
        DemoUser("intake", "受理员 林晓", "intake", district),
        DemoUser("dispatcher", "派遣员 郑军", "dispatcher", district),
        DemoUser("leader", "值班长 马丽", "shift_leader", district),
        DemoUser("evaluator", "考核员 高洁", "evaluator", district),
        DemoUser("supervisor", "督办员 罗斌", "supervisor", district),
        DemoUser("auditor", "审计员 梁文", "auditor", district),
        DemoUser("designer", "流程设计员 宋涛", "designer", district),
    ]
    for code, name, _town, short in COMMUNITIES:
        users.append(DemoUser(f"leader_{short}", f"{name}值班长", "shift_leader", code))
    # Each community workstation (三级平台) and town centre (二级平台) dispatches its own level's cases and
    # reports up what it cannot resolve; town shift leaders approve void requests of their platform.
    for code, name, _town, short in COMMUNITIES:
        users.append(DemoUser(f"dispatcher_{short}", f"{name}工作站派遣员", "dispatcher", code))
    for code, name, _prefix in TOWNS:
        login = TOWN_LOGINS[code]
        users.append(DemoUser(f"dispatcher_{login}", f"{name}指挥中心派遣员", "dispatcher", code))
        users.append(DemoUser(f"leader_{login}", f"{name}指挥中心值班长", "shift_leader", code))
    index = 0
    for code, _name, _town, short in COMMUNITIES:
        for n in range(1, 4):
            users.append(
                DemoUser(
                    f"gw_{short}{n}", f"网格员 {GRID_WORKER_NAMES[index]}", "grid_worker", f"{code}{n:03d}"
                )
            )
            index += 1
    # each community's grid leader (网格长): a grid worker of the whole community, who also takes the grid
    # steps of a case placed with the community because no grid covers its place (属地兜底)
    for (code, name, _town, short), leader in zip(COMMUNITIES, GRID_LEADER_NAMES, strict=True):
        users.append(DemoUser(f"gz_{short}", f"{name}网格长 {leader}", "grid_worker", code))
    for town_code, town_name, prefix in TOWNS:
        for _kind, dept_name, abbr in TOWN_DEPARTMENTS:
            users.append(
                DemoUser(
                    f"h_{prefix}_{abbr}".lower(),
                    f"{town_name}{dept_name}处置员",
                    "handler",
                    town_code,
                    f"{prefix}-{abbr}",
                )
            )
    for _kind, dept_name, abbr in DISTRICT_DEPARTMENTS:
        users.append(
            DemoUser(f"h_qh_{abbr}".lower(), f"{dept_name}处置员", "handler", district, f"QH-{abbr}")
        )
    return users


def create_demo_district(session: Session, password: str | None = DEMO_PASSWORD) -> list[DemoUser]:
    """Create the demo organisation and accounts in ``session``; return the accounts.

    ``password=None`` creates accounts that cannot sign in (for simulations and service-level tests).
    """
    district_code, district_name = DISTRICT
    tree.add_unit(session, district_code, district_name, "district", None)
    for code, name, _prefix in TOWNS:
        tree.add_unit(session, code, name, "town", district_code)
    for code, name, town, _short in COMMUNITIES:
        tree.add_unit(session, code, name, "community", town)
        for n in range(1, 4):
            tree.add_unit(session, f"{code}{n:03d}", f"{name}第{ORDINALS[n - 1]}网格", "grid", code)
    for town_code, town_name, prefix in TOWNS:
        for kind, dept_name, abbr in TOWN_DEPARTMENTS:
            tree.add_department(session, f"{prefix}-{abbr}", f"{town_name}{dept_name}", kind, town_code)
    for kind, dept_name, abbr in DISTRICT_DEPARTMENTS:
        tree.add_department(session, f"QH-{abbr}", dept_name, kind, district_code)
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    geography.store(units, geography.read_boundaries(boundaries.feature_collection(), units))
    users = demo_users()
    for user in users:
        people.add_user(session, user.username, user.display_name, password)
        people.grant_role(session, user.username, user.role, user.scope_code, user.department_code)
    return users
