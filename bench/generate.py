#!/usr/bin/env python3
"""Write a synthetic CMDB repository of N configuration items for the benchmarks.

    python bench/generate.py N [--out DIR] [--commits K] [--seed S] [--force]

The repository is `cmdbctl init`'s output plus an estate of every CI kind, wired together
the way a real one is: sites contain machine rooms, rooms contain racks, servers, network
and storage devices sit in racks, databases run on servers, applications run on servers
and depend on databases, services depend on applications and are covered by one of two
SLAs (24x7 and 5x8), runbooks and manuals are about services, network lines join sites
and core switches; people, groups (the owners) and a handful of change requests complete
it. `cmdbctl validate` accepts it with zero findings.

Files are spread over sub-folders of at most 1,000 files (`inventory/servers/000/
srv-00001.yaml`), the file name is the id. Documents are written from string templates,
not a YAML emitter, so 100,000 files take seconds. The same N and seed give the same
bytes, and (with the fixed identities and dates below) the same commit ids.

The estate is committed as K commits (default 1): the first holds the whole estate; each
later one changes the memory of a few servers and adds the change request that covers
them, with a `Change-Id:` trailer, as a change carried out through cmdbctl would.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

PER_FOLDER = 1000
BENCH = Path(__file__).resolve().parent

# The identity every generated commit carries (author and committer), and the clock.
AUTHOR_NAME, AUTHOR_EMAIL = "Alice Example", "alice@example.com"
EPOCH = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# A Sunday hour inside both SLAs' maintenance windows, where change windows go.
MAINTENANCE = datetime(2026, 11, 8, 3, 0, tzinfo=timezone(timedelta(hours=1)))

# ---------------------------------------------------------------------------- templates

SERVER = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
  owner: {owner}
spec:
  hostname: {id}
  fqdn: {id}.example.net
  serial: {serial}
  vendor: {vendor}
  model: {model}
  os: {{name: {os_name}, version: "{os_version}"}}
  cpu: {{cores: {cores}}}
  memoryMb: {memory}
  interfaces:
    - {{name: eth0, mac: "{mac}", ips: [{ip}]}}
  location: {rack}
"""

NETWORK_DEVICE = """\
apiVersion: cmdb/v1
kind: NetworkDevice
metadata:
  id: {id}
  name: {role} switch {id}
  owner: team-network
  labels: {{env: prod, site: {site}, role: {role}}}
spec:
  hostname: {id}
  serial: {serial}
  vendor: {vendor}
  model: {model}
  firmware: "{firmware}"
  managementIp: {ip}
  interfaces:
    - {{name: mgmt0, mac: "{mac}", ips: [{ip}]}}
  location: {rack}
  status: active
  criticality: {criticality}
"""

STORAGE_DEVICE = """\
apiVersion: cmdb/v1
kind: StorageDevice
metadata:
  id: {id}
  name: Storage array {id}
  owner: team-storage
  labels: {{env: prod, site: {site}}}
spec:
  serial: {serial}
  vendor: {vendor}
  model: {model}
  capacityTb: {capacity}
  location: {rack}
  status: active
  criticality: high
"""

DATABASE = """\
apiVersion: cmdb/v1
kind: Database
metadata:
  id: {id}
  name: {engine} database {id}
  owner: team-dba
  labels: {{env: {env}}}
spec:
  engine: {engine}
  version: "{version}"
  runsOn: {server}
  port: {port}
  status: active
  criticality: {criticality}
"""

APPLICATION = """\
apiVersion: cmdb/v1
kind: Application
metadata:
  id: {id}
  name: Application {id}
  owner: {owner}
  labels: {{env: {env}, tier: {tier}}}
spec:
  version: "{version}"
  runsOn: [{servers}]
  dependsOn: [{databases}]
  repository: https://git.example.net/apps/{id}.git
  status: active
  criticality: {criticality}
"""

SERVICE = """\
apiVersion: cmdb/v1
kind: Service
metadata:
  id: {id}
  name: {name}
  owner: {owner}
  labels: {{tier: {tier}}}
  description: Business service {name}, delivered by {napps} applications.
spec:
  sla: {sla}
  serviceHours: {hours}
  dependsOn: [{apps}]
  status: active
  criticality: {criticality}
"""

DOCUMENT = """\
apiVersion: cmdb/v1
kind: Document
metadata:
  id: {id}
  name: {title} for {service}
  owner: {owner}
spec:
  docType: {doc_type}
  uri: https://wiki.example.net/{doc_type}s/{service}
  version: "{version}"
  about: [{about}]
  status: active
  criticality: medium
"""

SITE = """\
apiVersion: cmdb/v1
kind: Facility
metadata:
  id: {id}
  name: Data centre {id}
  owner: team-facilities
  labels: {{site: {id}}}
spec:
  facilityType: site
  site: {id}
  address: {number} Example Road, {city}
  status: active
  criticality: critical
"""

ROOM = """\
apiVersion: cmdb/v1
kind: Facility
metadata:
  id: {id}
  name: Machine room {id}
  owner: team-facilities
  labels: {{site: {site}}}
spec:
  facilityType: machine-room
  site: {site}
  location: {site}
  status: active
  criticality: high
"""

RACK = """\
apiVersion: cmdb/v1
kind: Facility
metadata:
  id: {id}
  name: Rack {id}
  owner: team-facilities
  labels: {{site: {site}}}
spec:
  facilityType: rack
  site: {site}
  location: {room}
  status: active
  criticality: high
"""

NETWORK_LINE = """\
apiVersion: cmdb/v1
kind: NetworkLine
metadata:
  id: {id}
  name: {provider} line {a} to {b}
  owner: team-network
spec:
  provider: {provider}
  bandwidthMbps: {bandwidth}
  endpoints: [{a}, {b}]
  status: active
  criticality: high
"""

SLA_24X7 = """\
apiVersion: cmdb/v1
kind: SLA
metadata:
  id: sla-24x7
  name: Around-the-clock service level
  owner: team-service-desk
spec:
  services:
{services}
  serviceHours: "24x7"
  targets:
    P1: {{response: PT15M, resolve: PT4H}}
    P2: {{response: PT30M, resolve: PT8H}}
    P3: {{response: PT4H, resolve: P3D}}
    P4: {{response: P1D, resolve: P10D}}
  availability: 99.95
  satisfaction: 95
  maintenanceWindows:
    - {{timezone: UTC, days: [sun], from: "02:00", to: "06:00"}}
  exceptions: ["customer-caused outages", "force majeure"]
  reporting: monthly
"""

SLA_5X8 = """\
apiVersion: cmdb/v1
kind: SLA
metadata:
  id: sla-5x8
  name: Business-hours service level
  owner: team-service-desk
spec:
  services:
{services}
  serviceHours:
    {{timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}}
  targets:
    P1: {{response: PT30M, resolve: PT8H}}
    P2: {{response: PT1H, resolve: P1D}}
    P3: {{response: PT8H, resolve: P5D}}
    P4: {{response: P2D, resolve: P10D}}
  availability: 99.5
  satisfaction: 90
  maintenanceWindows:
    - {{timezone: Europe/Berlin, days: [sat], from: "22:00", to: "04:00"}}
    - {{timezone: Europe/Berlin, days: [wed], from: "20:00", to: "22:00"}}
  exceptions: ["customer-caused outages", "force majeure", "announced maintenance"]
  reporting: monthly
"""

PERSON = """\
apiVersion: cmdb/v1
kind: Person
metadata:
  id: {id}
  name: {name}
spec:
  emails: [{id}@example.com]
"""

GROUP = """\
apiVersion: cmdb/v1
kind: Group
metadata:
  id: {id}
  name: {name}
spec:
  members: [{members}]
"""

CHANGE = """\
apiVersion: cmdb/v1
kind: ChangeRequest
metadata:
  id: {id}
  name: {name}
  owner: {owner}
spec:
  type: {type}
  category: system
  requester: {requester}
  reason: {reason}
  description: {name}.
  targets: [{targets}]
  risk: {risk}
  impact: {{summary: "{impact}", services: [{services}]}}
  plan:
    - Announce the window to the service owners
    - {name}
    - Check monitoring and close the change
  window: {{start: "{start}", end: "{end}"}}
  rollbackPlan: Undo the change and restore the previous configuration.
{approvals}  status: {status}
{review}"""

APPROVAL = '    - {{by: {by}, at: "{at}", decision: {decision}, comment: {comment}}}\n'

# ------------------------------------------------------------------------------- values

VENDORS = [
    ("Dell", ["PowerEdge R650", "PowerEdge R750", "PowerEdge R660"]),
    ("HPE", ["ProLiant DL360 Gen11", "ProLiant DL380 Gen10"]),
    ("Lenovo", ["ThinkSystem SR650 V3", "ThinkSystem SR630"]),
    ("Supermicro", ["SYS-1029P-WTR", "SYS-2029U-TR4"]),
]
OSES = [
    ("Debian", "12"),
    ("Debian", "11"),
    ("Ubuntu", "22.04"),
    ("Ubuntu", "24.04"),
    ("RHEL", "9.4"),
    ("Rocky Linux", "9.3"),
    ("Windows Server", "2022"),
]
NET_VENDORS = [
    ("Cisco", "Nexus 93180YC-FX", "10.2(5)"),
    ("Arista", "7050SX3-48YC8", "4.31.1F"),
    ("Juniper", "QFX5120-48Y", "22.4R2"),
]
STORAGE_VENDORS = [
    ("NetApp", "AFF A400"),
    ("Pure Storage", "FlashArray X70"),
    ("Dell", "PowerStore 1200T"),
]
ENGINES = [
    ("postgresql", ["15", "16"], 5432),
    ("mysql", ["8.0"], 3306),
    ("oracle", ["19c"], 1521),
    ("mssql", ["2022"], 1433),
    ("mongodb", ["7.0"], 27017),
]
PROVIDERS = ["Colt", "Lumen", "Zayo", "Telia", "euNetworks"]
CITIES = [
    "Frankfurt",
    "Amsterdam",
    "London",
    "Paris",
    "Dublin",
    "Madrid",
    "Milan",
    "Vienna",
    "Warsaw",
    "Stockholm",
]
FIRST = [
    "amy",
    "ben",
    "chen",
    "dana",
    "emil",
    "fatima",
    "georg",
    "hana",
    "ivan",
    "julia",
    "kofi",
    "lena",
    "marco",
    "nina",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tara",
    "umar",
    "vera",
    "wei",
    "xenia",
    "yusuf",
    "zoe",
]
LAST = [
    "schmidt",
    "garcia",
    "nguyen",
    "kowalski",
    "rossi",
    "okafor",
    "lindqvist",
    "tanaka",
    "dubois",
    "silva",
    "novak",
    "haddad",
    "murphy",
    "jensen",
    "moreau",
    "becker",
]
SERVICE_WORDS = [
    "billing",
    "payments",
    "checkout",
    "catalogue",
    "search",
    "identity",
    "mail",
    "crm",
    "erp",
    "payroll",
    "ledger",
    "reporting",
    "shipping",
    "inventory",
    "pricing",
    "loyalty",
    "support",
    "analytics",
    "backup",
    "monitoring",
]
ENVS = ["prod"] * 6 + ["staging"] * 2 + ["dev"] * 2
CRITICALITY = ["low", "medium", "medium", "high", "high", "critical"]


def _width(count: int) -> int:
    return max(5, len(str(count)))


def change_text(
    cid: str,
    name: str,
    targets: list[str],
    *,
    type_: str = "normal",
    status: str = "approved",
    risk: str = "low",
    services: Sequence[str] = (),
    start: datetime,
    hours: int = 1,
    approved: bool = True,
    review: bool = False,
) -> str:
    """A change request by alice; approved by bob unless `approved` is false."""
    end = start + timedelta(hours=hours)
    approvals = ""
    if approved:
        at = (start - timedelta(days=2)).isoformat()
        approvals = "  approvals:\n" + APPROVAL.format(
            by="bob", at=at, decision="approve", comment="ok"
        )
    review_text = ""
    if review:
        review_text = (
            '  review: {by: bob, at: "'
            + (end + timedelta(days=1)).isoformat()
            + '", outcome: successful, notes: No side effects.}\n'
        )
    return CHANGE.format(
        id=cid,
        name=name,
        owner="team-ops",
        requester="alice",
        reason=f"{name} (capacity and lifecycle work)",
        targets=", ".join(targets),
        risk=risk,
        impact=f"{len(targets)} CIs, no expected downtime",
        # A standard change follows a model of the catalogue (init writes os-patch).
        type=type_ + ("\n  model: os-patch" if type_ == "standard" else ""),
        services=", ".join(services),
        start=start.isoformat(),
        end=end.isoformat(),
        approvals=approvals,
        status=status,
        review=review_text,
    )


class Estate:
    """Draws the estate's counts and wiring from N and the seed, then writes it."""

    def __init__(self, n: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = n
        self.counts: dict[str, int] = {}
        self.files = 0
        self.bytes = 0
        self.server_paths: list[str] = []
        self._plan()

    # -- counts ------------------------------------------------------------------------
    def _plan(self) -> None:
        n = self.n
        self.n_srv = max(1, round(n * 0.60))
        self.n_net = max(1, round(n * 0.05))
        self.n_sto = max(1, round(n * 0.02))
        self.n_db = max(1, round(n * 0.07))
        self.n_svc = max(2, round(n * 0.01))
        self.n_doc = 2 * self.n_svc  # a runbook and a manual per service
        self.n_line = max(1, round(n * 0.005))
        hardware = self.n_srv + self.n_net + self.n_sto
        self.n_rack = max(1, math.ceil(hardware / 24))
        self.n_room = max(1, math.ceil(self.n_rack / 20))
        self.n_site = max(2, math.ceil(self.n_room / 4))
        fixed = (
            self.n_srv
            + self.n_net
            + self.n_sto
            + self.n_db
            + self.n_svc
            + self.n_doc
            + self.n_line
            + self.n_rack
            + self.n_room
            + self.n_site
        )
        self.n_app = max(1, n - fixed)
        self.n_people = max(12, min(2000, n // 100))
        self.n_app_teams = max(3, min(50, self.n_app // 200))
        self.sites = [f"dc-{i + 1:02d}" for i in range(self.n_site)]
        self.rooms = [
            f"{self.sites[i * self.n_site // self.n_room]}-room-{i + 1:03d}"
            for i in range(self.n_room)
        ]
        self.racks = [f"rack-{i + 1:0{_width(self.n_rack)}d}" for i in range(self.n_rack)]
        self.rack_room = [i * self.n_room // self.n_rack for i in range(self.n_rack)]
        self.srv = self._ids("srv", self.n_srv)
        self.net = self._ids("net", self.n_net)
        self.sto = self._ids("sto", self.n_sto)
        self.db = self._ids("db", self.n_db)
        self.app = self._ids("app", self.n_app)
        self.svc = self._ids("svc", self.n_svc)
        self.line = self._ids("line", self.n_line)
        self.people = self._people()
        self.app_teams = [f"team-apps-{i + 1:02d}" for i in range(self.n_app_teams)]

    @staticmethod
    def _ids(prefix: str, count: int) -> list[str]:
        width = _width(count)
        return [f"{prefix}-{i + 1:0{width}d}" for i in range(count)]

    def _people(self) -> list[tuple[str, str]]:
        seen: set[str] = set()
        people = []
        while len(people) < self.n_people:
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            pid = base = f"{first}.{last}"
            k = 2
            while pid in seen:
                pid, k = f"{base}{k}", k + 1
            seen.add(pid)
            people.append((pid, f"{first.title()} {last.title()}"))
        return people

    # -- writing -----------------------------------------------------------------------
    def _write(self, root: Path, folder: str, index: int, doc_id: str, text: str) -> str:
        rel = f"{folder}/{index // PER_FOLDER:03d}/{doc_id}.yaml"
        data = text.encode()
        with open(root / rel, "wb") as handle:
            handle.write(data)
        self.files += 1
        self.bytes += len(data)
        return rel

    def _folders(self, root: Path, folder: str, count: int) -> None:
        for k in range(math.ceil(count / PER_FOLDER)):
            (root / folder / f"{k:03d}").mkdir(parents=True, exist_ok=True)

    def _site_of_rack(self, r: int) -> str:
        return self.rooms[self.rack_room[r]].rsplit("-room-", 1)[0]

    def _hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(4 * digits):0{digits}X}"

    def _mac(self, n: int) -> str:
        return "02:00:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))

    @staticmethod
    def _ip(base: int, n: int) -> str:
        n += 1 + n // 254  # skip the .0 network addresses
        return f"10.{base + (n >> 16)}.{(n >> 8) & 0xFF}.{n & 0xFF}"

    def write(self, root: Path) -> None:
        rng = self.rng
        plan = [
            ("inventory/facilities/sites", self.n_site),
            ("inventory/facilities/rooms", self.n_room),
            ("inventory/facilities/racks", self.n_rack),
            ("inventory/servers", self.n_srv),
            ("inventory/network", self.n_net),
            ("inventory/storage", self.n_sto),
            ("inventory/databases", self.n_db),
            ("inventory/applications", self.n_app),
            ("inventory/services", self.n_svc),
            ("inventory/documents", self.n_doc),
            ("inventory/lines", self.n_line),
            ("inventory/slas", 2),
            ("policies/people", self.n_people),
            ("policies/groups", 6 + self.n_app_teams),
            ("changes/2026", 6),
        ]
        for folder, count in plan:
            self._folders(root, folder, count)

        # Facilities.
        for i, site in enumerate(self.sites):
            self._write(
                root,
                "inventory/facilities/sites",
                i,
                site,
                SITE.format(id=site, number=10 + i, city=CITIES[i % len(CITIES)]),
            )
        for i, room in enumerate(self.rooms):
            site = room.rsplit("-room-", 1)[0]
            self._write(
                root, "inventory/facilities/rooms", i, room, ROOM.format(id=room, site=site)
            )
        for i, rack in enumerate(self.racks):
            self._write(
                root,
                "inventory/facilities/racks",
                i,
                rack,
                RACK.format(
                    id=rack, site=self._site_of_rack(i), room=self.rooms[self.rack_room[i]]
                ),
            )
        self.counts["Facility"] = self.n_site + self.n_room + self.n_rack

        # Hardware fills the racks in order: servers, then network, then storage.
        hardware = self.n_srv + self.n_net + self.n_sto

        def rack_of(j: int) -> int:
            return j * self.n_rack // hardware

        linux_teams = ["team-linux", "team-linux", "team-linux", "team-windows"]
        for i, sid in enumerate(self.srv):
            r = rack_of(i)
            vendor, models = VENDORS[rng.randrange(len(VENDORS))]
            os_name, os_version = OSES[rng.randrange(len(OSES))]
            owner = (
                "team-windows" if os_name.startswith("Windows") else linux_teams[rng.randrange(3)]
            )
            self.server_paths.append(
                self._write(
                    root,
                    "inventory/servers",
                    i,
                    sid,
                    SERVER.format(
                        id=sid,
                        owner=owner,
                        serial=f"SN{self._hex(10)}",
                        vendor=vendor,
                        model=models[rng.randrange(len(models))],
                        os_name=os_name,
                        os_version=os_version,
                        cores=(8, 16, 32, 64)[rng.randrange(4)],
                        memory=16384 << rng.randrange(6),
                        mac=self._mac(i),
                        ip=self._ip(16, i),
                        rack=self.racks[r],
                    ),
                )
            )
        self.counts["Server"] = self.n_srv
        for i, nid in enumerate(self.net):
            r = rack_of(self.n_srv + i)
            vendor, model, firmware = NET_VENDORS[rng.randrange(len(NET_VENDORS))]
            self._write(
                root,
                "inventory/network",
                i,
                nid,
                NETWORK_DEVICE.format(
                    id=nid,
                    role="core" if i < 2 * self.n_site else "access",
                    site=self._site_of_rack(r),
                    serial=f"FDO{self._hex(8)}",
                    vendor=vendor,
                    model=model,
                    firmware=firmware,
                    ip=self._ip(32, i),
                    mac=self._mac(1 << 24 | i),
                    rack=self.racks[r],
                    criticality="critical" if i < 2 * self.n_site else "high",
                ),
            )
        self.counts["NetworkDevice"] = self.n_net
        for i, sid in enumerate(self.sto):
            r = rack_of(self.n_srv + self.n_net + i)
            vendor, model = STORAGE_VENDORS[rng.randrange(len(STORAGE_VENDORS))]
            self._write(
                root,
                "inventory/storage",
                i,
                sid,
                STORAGE_DEVICE.format(
                    id=sid,
                    site=self._site_of_rack(r),
                    serial=f"ST{self._hex(8)}",
                    vendor=vendor,
                    model=model,
                    capacity=(50, 100, 200, 400)[rng.randrange(4)],
                    rack=self.racks[r],
                ),
            )
        self.counts["StorageDevice"] = self.n_sto

        # Software: databases on servers, applications on servers and databases.
        for i, did in enumerate(self.db):
            engine, versions, port = ENGINES[rng.randrange(len(ENGINES))]
            self._write(
                root,
                "inventory/databases",
                i,
                did,
                DATABASE.format(
                    id=did,
                    engine=engine,
                    version=versions[rng.randrange(len(versions))],
                    env=ENVS[rng.randrange(len(ENVS))],
                    server=self.srv[rng.randrange(self.n_srv)],
                    port=port,
                    criticality=CRITICALITY[rng.randrange(len(CRITICALITY))],
                ),
            )
        self.counts["Database"] = self.n_db
        for i, aid in enumerate(self.app):
            servers = sorted(
                {self.srv[rng.randrange(self.n_srv)] for _ in range(1 + rng.randrange(3))}
            )
            dbs = sorted({self.db[rng.randrange(self.n_db)] for _ in range(rng.randrange(3))})
            self._write(
                root,
                "inventory/applications",
                i,
                aid,
                APPLICATION.format(
                    id=aid,
                    owner=self.app_teams[i % self.n_app_teams],
                    env=ENVS[rng.randrange(len(ENVS))],
                    tier=("web", "api", "batch")[i % 3],
                    version=f"{1 + rng.randrange(5)}.{rng.randrange(20)}.{rng.randrange(10)}",
                    servers=", ".join(servers),
                    databases=", ".join(dbs),
                    criticality=CRITICALITY[rng.randrange(len(CRITICALITY))],
                ),
            )
        self.counts["Application"] = self.n_app

        # Services, their SLAs and documents.
        covered: dict[str, list[str]] = {"sla-24x7": [], "sla-5x8": []}
        for i, vid in enumerate(self.svc):
            apps = sorted(
                {self.app[rng.randrange(self.n_app)] for _ in range(2 + rng.randrange(6))}
            )
            sla = "sla-24x7" if i % 2 == 0 else "sla-5x8"
            covered[sla].append(vid)
            word = SERVICE_WORDS[i % len(SERVICE_WORDS)]
            self._write(
                root,
                "inventory/services",
                i,
                vid,
                SERVICE.format(
                    id=vid,
                    name=f"{word.title()} {i // len(SERVICE_WORDS) + 1}",
                    owner=self.app_teams[i % self.n_app_teams],
                    tier="gold" if i % 2 == 0 else "silver",
                    napps=len(apps),
                    sla=sla,
                    hours='"24x7"'
                    if sla == "sla-24x7"
                    else "{timezone: Europe/Berlin, days: "
                    '[mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}',
                    apps=", ".join(apps),
                    criticality="critical" if i % 4 == 0 else "high",
                ),
            )
        self.counts["Service"] = self.n_svc
        doc_width = _width(self.n_doc)
        for i, vid in enumerate(self.svc):
            for k, (doc_type, title) in enumerate((("runbook", "Runbook"), ("manual", "Manual"))):
                index = 2 * i + k
                did = f"{doc_type[:3]}-{index + 1:0{doc_width}d}"
                self._write(
                    root,
                    "inventory/documents",
                    index,
                    did,
                    DOCUMENT.format(
                        id=did,
                        title=title,
                        service=vid,
                        owner=self.app_teams[i % self.n_app_teams],
                        doc_type=doc_type,
                        version=f"{1 + rng.randrange(4)}.{rng.randrange(10)}",
                        about=vid,
                    ),
                )
        self.counts["Document"] = self.n_doc
        cores = [self.net[i] for i in range(min(self.n_net, 2 * self.n_site))]
        for i, lid in enumerate(self.line):
            if i < self.n_site - 1 or not cores:
                a, b = self.sites[i % self.n_site], self.sites[(i + 1) % self.n_site]
            else:
                a, b = rng.sample(cores, 2) if len(cores) > 1 else (cores[0], self.sites[0])
            self._write(
                root,
                "inventory/lines",
                i,
                lid,
                NETWORK_LINE.format(
                    id=lid,
                    provider=PROVIDERS[i % len(PROVIDERS)],
                    a=a,
                    b=b,
                    bandwidth=(1000, 10000, 100000)[rng.randrange(3)],
                ),
            )
        self.counts["NetworkLine"] = self.n_line
        for i, (template, sla) in enumerate(((SLA_24X7, "sla-24x7"), (SLA_5X8, "sla-5x8"))):
            listed = "\n".join(f"    - {s}" for s in covered[sla])
            self._write(root, "inventory/slas", i, sla, template.format(services=listed))
        self.counts["SLA"] = 2

        # People, groups, change requests.
        for i, (pid, name) in enumerate(self.people):
            self._write(root, "policies/people", i, pid, PERSON.format(id=pid, name=name))
        self.counts["Person"] = self.n_people
        teams = [
            ("team-linux", "Linux team"),
            ("team-windows", "Windows team"),
            ("team-dba", "Database administrators"),
            ("team-network", "Network team"),
            ("team-storage", "Storage team"),
            ("team-facilities", "Facilities team"),
        ]
        teams += [(t, f"Application team {t[-2:]}") for t in self.app_teams]
        teams.insert(0, ("team-service-desk", "Service desk"))
        self._folders(root, "policies/groups", len(teams))
        ids = [p for p, _ in self.people]
        for i, (gid, name) in enumerate(teams):
            members = sorted(rng.sample(ids, min(len(ids), 3 + rng.randrange(6))))
            self._write(
                root,
                "policies/groups",
                i,
                gid,
                GROUP.format(id=gid, name=name, members=", ".join(members)),
            )
        self.counts["Group"] = len(teams)
        self._changes(root)

    def _changes(self, root: Path) -> None:
        rng = self.rng
        # Sundays 03:00-04:00 Berlin (02:00 UTC in winter): inside the maintenance windows
        # of both SLAs, and outside the year-end freeze.
        sunday = MAINTENANCE
        specs = [
            ("Double memory on three database hosts", "normal", "implemented", "medium"),
            ("Patch firmware on core switches", "normal", "approved", "high"),
            ("Restart hung batch application", "emergency", "closed", "medium"),
            ("Replace failed disk", "standard", "implemented", "low"),
            ("Upgrade PostgreSQL minor version", "normal", "submitted", "medium"),
            ("Decommission old storage array", "normal", "draft", "low"),
        ]
        for i, (name, type_, status, risk) in enumerate(specs):
            pool = self.net if "switch" in name else self.sto if "storage" in name else self.srv
            targets = sorted({pool[rng.randrange(len(pool))] for _ in range(3)})
            cid = f"CHG-2026-{i + 1:04d}"
            text = change_text(
                cid,
                name,
                targets,
                type_=type_,
                status=status,
                risk=risk,
                services=[self.svc[rng.randrange(self.n_svc)]],
                start=sunday + timedelta(weeks=i),
                approved=status not in ("submitted", "draft"),
                review=type_ == "emergency",
            )
            self._write(root, "changes/2026", i, cid, text)
        self.counts["ChangeRequest"] = len(specs)


# ----------------------------------------------------------------------------------- git


def git_env(when: datetime) -> dict[str, str]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def git(root: Path, *args: str, when: datetime = EPOCH, input: bytes | None = None) -> None:
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
        cwd=root,
        env=git_env(when),
        check=True,
        input=input,
        stdout=subprocess.DEVNULL,
    )


_MEMORY = re.compile(rb"^(  memoryMb: )(\d+)$", re.MULTILINE)


def set_memory(path: Path, factor: int = 2) -> None:
    """Multiply a server's memoryMb (the edit later commits and the benchmarks make)."""
    raw = path.read_bytes()
    new = _MEMORY.sub(lambda m: m.group(1) + str(int(m.group(2)) * factor).encode(), raw, count=1)
    path.write_bytes(new)


def commit_history(root: Path, estate: Estate, commits: int) -> None:
    git(root, "add", "-A")
    git(
        root,
        "commit",
        "-q",
        "--no-verify",
        "-m",
        f"Import the estate: {estate.n} configuration items",
    )
    rng = random.Random(estate.n * 7919 + commits)
    for c in range(1, commits):
        when = EPOCH + timedelta(hours=c)
        picks = sorted({rng.randrange(len(estate.server_paths)) for _ in range(3)})
        targets = [estate.srv[p] for p in picks]
        cid = f"CHG-2026-{100 + c:04d}"
        for p in picks:
            set_memory(root / estate.server_paths[p])
        rel = f"changes/history/{(c - 1) // PER_FOLDER:03d}/{cid}.yaml"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(
            change_text(
                cid,
                f"Double memory on {', '.join(targets)}",
                targets,
                status="implemented",
                start=when - timedelta(days=1) + timedelta(hours=12),
                services=[],
            )
        )
        git(root, "add", rel, *(estate.server_paths[p] for p in picks), when=when)
        message = (
            f"Double memory on {', '.join(targets)}\n\n"
            f"Capacity request from the service owners.\n\nChange-Id: {cid}\n"
        )
        git(root, "commit", "-q", "--no-verify", "-F", "-", when=when, input=message.encode())


# ---------------------------------------------------------------------------------- main


def generate(
    n: int, out: Path, commits: int = 1, seed: int = 1, force: bool = False, quiet: bool = False
) -> dict[str, object]:
    sys.path.insert(0, str(BENCH.parent))  # the working copy's cmdbctl when not installed
    from cmdbctl.scaffold import init_repository

    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(
                f"generate: {out} exists and is not empty (pass --force to replace it)"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    git(out, "init", "-q", "-b", "main")
    init_repository(out)  # the scaffold: schemas, policies, example CIs, CI wiring
    estate = Estate(n, seed)
    estate.write(out)
    written = time.perf_counter()
    commit_history(out, estate, commits)
    done = time.perf_counter()
    documents = sum(
        1
        for d in ("inventory", "changes", "policies")
        for _, _, names in os.walk(out / d)
        for f in names
        if f.endswith(".yaml")
    )
    summary = {
        "path": str(out),
        "cis": n,
        "documents": documents,
        "files_written": estate.files,
        "bytes_written": estate.bytes,
        "commits": commits,
        "seed": seed,
        "counts": estate.counts,
        "write_seconds": round(written - started, 2),
        "commit_seconds": round(done - written, 2),
    }
    if not quiet:
        counts = ", ".join(f"{k} {v:,}" for k, v in estate.counts.items())
        print(
            f"{out}: {n:,} CIs, {documents:,} document files "
            f"({estate.files:,} generated, {estate.bytes / estate.files:.0f} bytes on average), "
            f"{commits} commit{'s' if commits != 1 else ''}"
        )
        print(f"  {counts}")
        print(f"  written in {written - started:.1f} s, committed in {done - written:.1f} s")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="number of configuration items (at least 50)")
    parser.add_argument("--out", type=Path, help="where to write (default: bench/out/estate-N)")
    parser.add_argument("--commits", type=int, default=1, help="length of the history (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    if args.n < 50:
        parser.error("N must be at least 50")
    if args.commits < 1:
        parser.error("--commits must be at least 1")
    out = args.out or BENCH / "out" / f"estate-{args.n}"
    generate(args.n, out.resolve(), args.commits, args.seed, args.force)


if __name__ == "__main__":
    main()
