"""Deterministic demo organization: members, 90 days of usage, billing and audit history.

The same seed and the same `today` give the same database. Demo accounts: `owner`,
`admin` and `member`, password `kilo-demo`.

At start-up an empty database (no organization at all) gets the demo unless it is switched
off (`KILO_DEMO=0`, or `[app] demo = false` in secrets); a database that holds any
organization never gets it.

    switch.py     demo_enabled: the `[app] demo` / `KILO_DEMO` switch
    database.py   is_seeded, only_demo_organizations, clear_database
    seed.py       seed (the steps in order) and seed_if_empty (the start-up rule)
    members.py    the accounts and colleagues, and their invitations' audit history
    usage.py      90 days of usage events
    billing.py    credit purchases, welcome credits, seat changes, monthly seat invoices and
                  billing's own demo events (kilo.billing.demo), issued in date order

The other modules' demo data (model access, custom modes) comes from their own `seed_demo`,
which `seed` calls after these steps.
"""

from kilo.demo.database import clear_database, is_seeded, only_demo_organizations
from kilo.demo.members import DEMO_ACCOUNTS, DEMO_PASSWORD, OTHER_PEOPLE
from kilo.demo.seed import DEMO_ORG, seed, seed_if_empty
from kilo.demo.switch import demo_enabled
from kilo.demo.usage import DAYS, DEMO_MODELS, MODES

__all__ = [
    "DAYS",
    "DEMO_ACCOUNTS",
    "DEMO_MODELS",
    "DEMO_ORG",
    "DEMO_PASSWORD",
    "MODES",
    "OTHER_PEOPLE",
    "clear_database",
    "demo_enabled",
    "is_seeded",
    "only_demo_organizations",
    "seed",
    "seed_if_empty",
]
