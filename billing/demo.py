"""The demo data set behind ``python manage.py seed_demo``: a freemium networking SaaS called Meshwork.

- one product (``meshwork``) and three billable metrics: ``active_users`` (unique count of ``user_id``),
  ``devices`` (max of ``devices``), ``relay_gb`` (sum of ``gb``);
- five plans, each in USD (``starter``) and EUR (``starter-eur``), since a plan version has one currency:
  Personal (free: 3 users, 100 devices), Personal Plus, Starter (6.00 per active user per month),
  Premium (18.00 per active user per month, SSO) and Enterprise (priced by contract);
- a few coupons, about 200 customers with realistic company names (three in four billed in USD), and one
  staff user per role plus a superuser, whose logins the command prints.

Everything is written through the services (``customer_create``, ``plan_create``, ``metric_create``,
``coupon_create``) except the product and the staff users, which have none. The data are deterministic
(``random.Random(42)``, no Faker) and each object is created only when its code, external id or username
does not exist yet, so running the seed twice changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import slugify

from accounts.models import BillingAnchor, Customer
from accounts.roles import FINANCE, ROLES, SALES, SUPPORT, ensure_roles
from accounts.services.customers import customer_create
from billing.models import (
    Aggregation,
    BillableMetric,
    BillingTiming,
    Coupon,
    CouponDuration,
    Plan,
    PriceModel,
    Product,
)
from billing.services.catalog import (
    PlanDraft,
    PriceDraft,
    TierDraft,
    coupon_create,
    metric_create,
    plan_create,
)

PRODUCT_CODE = "meshwork"
CUSTOMER_COUNT = 200
SEED = 42
ADMIN_URL = "http://127.0.0.1:8000/admin/"

D = Decimal


class Writer(Protocol):
    """Where progress goes: a management command's ``self.stdout`` or any text stream."""

    def write(self, msg: str, /) -> Any: ...


# --- staff ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str  # a role group name, or "superuser"


SUPERUSER = "superuser"
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin-demo", SUPERUSER),
    DemoLogin("finance", "finance-demo", FINANCE),
    DemoLogin("sales", "sales-demo", SALES),
    DemoLogin("support", "support-demo", SUPPORT),
)


# --- catalog ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    code: str
    name: str
    aggregation: str
    field_name: str
    description: str = ""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "active_users", "Active users", Aggregation.UNIQUE_COUNT, "user_id", "Distinct users who connected."
    ),
    MetricSpec("devices", "Devices", Aggregation.MAX, "devices", "Peak number of enrolled devices."),
    MetricSpec("relay_gb", "Relay traffic (GB)", Aggregation.SUM, "gb", "Traffic through Meshwork's relays."),
)


@dataclass(frozen=True)
class CouponSpec:
    code: str
    name: str
    duration: str
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None
    currency: str = ""
    duration_in_months: int | None = None


COUPONS: tuple[CouponSpec, ...] = (
    CouponSpec(
        "launch20", "Launch: 20% off for 3 months", CouponDuration.REPEATING, D("20"), duration_in_months=3
    ),
    CouponSpec(
        "welcome10", "Welcome: 10.00 USD off once", CouponDuration.ONCE, amount_off=D("10.00"), currency="USD"
    ),
    CouponSpec(
        "welcome10-eur",
        "Welcome: 10.00 EUR off once",
        CouponDuration.ONCE,
        amount_off=D("10.00"),
        currency="EUR",
    ),
)


@dataclass(frozen=True)
class _PlanPrices:
    """What differs between the USD and the EUR edition of the catalog."""

    currency: str
    suffix: str
    personal_plus: Decimal
    starter_seat: Decimal
    starter_relay_gb: Decimal
    premium_seat: Decimal
    premium_relay_gb: Decimal
    enterprise_device: Decimal


_EDITIONS = (
    _PlanPrices("USD", "", D("5.00"), D("6.00"), D("0.05"), D("18.00"), D("0.04"), D("0.50")),
    _PlanPrices("EUR", "-eur", D("4.50"), D("5.50"), D("0.05"), D("16.50"), D("0.04"), D("0.45")),
)


def _relay(per_gb: Decimal, free_gb: int) -> PriceDraft:
    return PriceDraft(
        code="relay",
        model=PriceModel.GRADUATED,
        billing=BillingTiming.IN_ARREARS,
        description=f"Relay traffic: first {free_gb} GB included, then per GB",
        metric="relay_gb",
        tiers=(TierDraft(up_to=D(free_gb), unit_amount=D(0)), TierDraft(up_to=None, unit_amount=per_gb)),
    )


def _seats(unit_amount: Decimal) -> PriceDraft:
    return PriceDraft(
        code="seats",
        model=PriceModel.PER_UNIT,
        billing=BillingTiming.IN_ADVANCE,
        description="Per active user per month (quantity = seats)",
        unit_amount=unit_amount,
    )


def _flat(amount: Decimal, description: str) -> PriceDraft:
    return PriceDraft(
        code="platform",
        model=PriceModel.FLAT,
        billing=BillingTiming.IN_ADVANCE,
        description=description,
        amount=amount,
    )


def plan_drafts() -> tuple[PlanDraft, ...]:
    """The Meshwork catalog: five plans, in USD and in EUR."""
    drafts: list[PlanDraft] = []
    for e in _EDITIONS:
        label = "" if e.currency == "USD" else f" ({e.currency})"
        drafts += [
            PlanDraft(
                code=f"personal{e.suffix}",
                name=f"Personal{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="Free for personal use: up to 3 users and 100 devices.",
                prices=(_flat(D("0.00"), "Free"),),
                features={"max_users": 3, "max_devices": 100, "sso": False},
            ),
            PlanDraft(
                code=f"personal-plus{e.suffix}",
                name=f"Personal Plus{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="For families and home labs: up to 6 users and 200 devices.",
                prices=(_flat(e.personal_plus, "Personal Plus, monthly"),),
                features={"max_users": 6, "max_devices": 200, "sso": False},
            ),
            PlanDraft(
                code=f"starter{e.suffix}",
                name=f"Starter{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                trial_days=14,
                description="For small teams: billed per active user, 100 GB of relay traffic included.",
                prices=(_seats(e.starter_seat), _relay(e.starter_relay_gb, 100)),
                features={"max_users": None, "max_devices": 1000, "sso": False},
            ),
            PlanDraft(
                code=f"premium{e.suffix}",
                name=f"Premium{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                trial_days=14,
                description="SSO and unlimited devices; 500 GB of relay traffic included.",
                prices=(_seats(e.premium_seat), _relay(e.premium_relay_gb, 500)),
                features={"max_users": None, "max_devices": None, "sso": True},
            ),
            PlanDraft(
                code=f"enterprise{e.suffix}",
                name=f"Enterprise{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="Priced by contract: its platform fee is a placeholder a contract overrides.",
                prices=(
                    _flat(D("0.00"), "Platform fee (set by contract)"),
                    PriceDraft(
                        code="devices",
                        model=PriceModel.PER_UNIT,
                        billing=BillingTiming.IN_ARREARS,
                        description="Per device (peak in the period)",
                        metric="devices",
                        unit_amount=e.enterprise_device,
                    ),
                ),
                features={"max_users": None, "max_devices": None, "sso": True},
            ),
        ]
    return tuple(drafts)


# --- customers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    city: str
    state: str
    postal_code: str
    timezone: str
    streets: tuple[str, ...]  # with {n} for the house number


@dataclass(frozen=True)
class _Country:
    code: str
    currency: str
    weight: int
    cities: tuple[_City, ...]
    legal_forms: tuple[str, ...]
    tlds: tuple[str, ...]
    surnames: tuple[str, ...]
    vat_prefix: str = ""  # EU/UK VAT number prefix; empty: no tax id


_US_SURNAMES = (
    "Hartley", "Brennan", "Carter", "Whitman", "Delgado", "Okafor", "Nguyen", "Sullivan", "Reyes", "Foster",
    "Kowalski", "Bennett", "Chandler", "Morrison", "Patel", "Harper", "Lindqvist", "Marsh", "Caldwell",
    "Romero",
)  # fmt: skip

# Three in four customers are billed in USD (the US, Canada, the UK), one in four in EUR.
COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "US", "USD", 62,
        (
            _City("New York", "NY", "10001", "America/New_York", ("{n} Broadway", "{n} Park Avenue")),
            _City("Boston", "MA", "02110", "America/New_York",
                  ("{n} Boylston Street", "{n} Congress Street")),
            _City("Atlanta", "GA", "30303", "America/New_York",
                  ("{n} Peachtree Street NE", "{n} Marietta Street")),
            _City("Raleigh", "NC", "27601", "America/New_York",
                  ("{n} Fayetteville Street", "{n} Glenwood Avenue")),
            _City("Miami", "FL", "33131", "America/New_York",
                  ("{n} Brickell Avenue", "{n} Biscayne Boulevard")),
            _City("Chicago", "IL", "60601", "America/Chicago",
                  ("{n} N Michigan Avenue", "{n} W Wacker Drive")),
            _City("Austin", "TX", "78701", "America/Chicago", ("{n} Congress Avenue", "{n} W 6th Street")),
            _City("Denver", "CO", "80202", "America/Denver", ("{n} Larimer Street", "{n} 17th Street")),
            _City("Phoenix", "AZ", "85004", "America/Phoenix",
                  ("{n} N Central Avenue", "{n} E Washington Street")),
            _City("Seattle", "WA", "98101", "America/Los_Angeles", ("{n} Pine Street", "{n} 1st Avenue")),
            _City("Portland", "OR", "97204", "America/Los_Angeles",
                  ("{n} SW Broadway", "{n} SW Morrison Street")),
            _City("San Francisco", "CA", "94105", "America/Los_Angeles",
                  ("{n} Market Street", "{n} Mission Street")),
            _City("Los Angeles", "CA", "90012", "America/Los_Angeles",
                  ("{n} S Spring Street", "{n} W 7th Street")),
        ),
        ("Inc.", "Inc.", "LLC", "Corp."), (".com", ".com", ".io", ".co"), _US_SURNAMES,
    ),
    _Country(
        "CA", "USD", 6,
        (
            _City("Toronto", "ON", "M5H 2N2", "America/Toronto",
                  ("{n} King Street West", "{n} Queen Street West")),
            _City("Vancouver", "BC", "V6B 1A1", "America/Vancouver",
                  ("{n} Granville Street", "{n} W Hastings Street")),
            _City("Montréal", "QC", "H2Y 1C6", "America/Toronto",
                  ("{n} rue Saint-Paul Ouest", "{n} rue Sherbrooke Ouest")),
        ),
        ("Inc.", "Ltd."), (".ca", ".com"), ("Tremblay", "MacDonald", "Gagnon", "Campbell", "Roy", "Fraser"),
    ),
    _Country(
        "GB", "USD", 7,
        (
            _City("London", "", "EC1V 9HX", "Europe/London", ("{n} Old Street", "{n} Clerkenwell Road")),
            _City("Manchester", "", "M1 1AE", "Europe/London", ("{n} Deansgate", "{n} Oxford Road")),
            _City("Edinburgh", "", "EH2 2ER", "Europe/London", ("{n} George Street", "{n} Princes Street")),
        ),
        ("Ltd", "Ltd", "plc"), (".co.uk", ".io"),
        ("Ashworth", "Pembroke", "Fairfax", "Thornton", "Hollis", "Wren"),
        "GB",
    ),
    _Country(
        "DE", "EUR", 9,
        (
            _City("Berlin", "", "10117", "Europe/Berlin", ("Friedrichstraße {n}", "Torstraße {n}")),
            _City("München", "", "80331", "Europe/Berlin", ("Sendlinger Straße {n}", "Leopoldstraße {n}")),
            _City("Hamburg", "", "20095", "Europe/Berlin", ("Mönckebergstraße {n}", "Jungfernstieg {n}")),
            _City("Köln", "", "50667", "Europe/Berlin", ("Hohe Straße {n}", "Aachener Straße {n}")),
        ),
        ("GmbH", "GmbH", "AG", "UG"), (".de", ".io"),
        ("Müller", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann"),
        "DE",
    ),
    _Country(
        "FR", "EUR", 6,
        (
            _City("Paris", "", "75001", "Europe/Paris", ("{n} rue de Rivoli", "{n} rue Saint-Honoré")),
            _City("Lyon", "", "69002", "Europe/Paris",
                  ("{n} rue de la République", "{n} quai Saint-Antoine")),
            _City("Toulouse", "", "31000", "Europe/Paris", ("{n} rue d'Alsace-Lorraine", "{n} rue de Metz")),
            _City("Nantes", "", "44000", "Europe/Paris", ("{n} rue Crébillon", "{n} quai de la Fosse")),
        ),
        ("SAS", "SAS", "SARL"), (".fr", ".io"),
        ("Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Mercier"),
        "FR",
    ),
    _Country(
        "NL", "EUR", 4,
        (
            _City("Amsterdam", "", "1016 DK", "Europe/Amsterdam", ("Keizersgracht {n}", "Herengracht {n}")),
            _City("Rotterdam", "", "3012 AN", "Europe/Amsterdam",
                  ("Coolsingel {n}", "Witte de Withstraat {n}")),
            _City("Utrecht", "", "3511 AA", "Europe/Amsterdam", ("Oudegracht {n}", "Catharijnesingel {n}")),
        ),
        ("B.V.",), (".nl", ".io"), ("de Vries", "Jansen", "Bakker", "Visser", "Smit"),
        "NL",
    ),
    _Country(
        "IE", "EUR", 2,
        (
            _City("Dublin", "", "D02 X285", "Europe/Dublin",
                  ("{n} Baggot Street Lower", "{n} Grafton Street")),
            _City("Cork", "", "T12 X70A", "Europe/Dublin", ("{n} Grand Parade", "{n} Patrick Street")),
        ),
        ("Ltd", "DAC"), (".ie", ".com"), ("Byrne", "O'Brien", "Kavanagh", "Doyle"),
        "IE",
    ),
    _Country(
        "ES", "EUR", 2,
        (
            _City("Madrid", "", "28014", "Europe/Madrid", ("Calle de Alcalá, {n}", "Gran Vía, {n}")),
            _City("Barcelona", "", "08007", "Europe/Madrid",
                  ("Carrer de Balmes, {n}", "Passeig de Gràcia, {n}")),
        ),
        ("S.L.",), (".es", ".com"), ("García", "Fernández", "Navarro", "Ortega"),
        "ES",
    ),
    _Country(
        "IT", "EUR", 1,
        (
            _City("Milano", "", "20124", "Europe/Rome", ("Corso Buenos Aires {n}", "Via Vittor Pisani {n}")),
            _City("Roma", "", "00187", "Europe/Rome", ("Via del Corso {n}", "Via Nazionale {n}")),
        ),
        ("S.r.l.",), (".it", ".com"), ("Rossi", "Bianchi", "Ferrari", "Colombo"),
        "IT",
    ),
    _Country(
        "AT", "EUR", 1,
        (_City("Wien", "", "1010", "Europe/Vienna", ("Kärntner Straße {n}", "Graben {n}")),),
        ("GmbH",), (".at", ".com"), ("Gruber", "Huber", "Wagner"),
        "ATU",
    ),
)  # fmt: skip

_PREFIXES = (
    "North", "Blue", "Bright", "Silver", "Iron", "Cedar", "Harbor", "Summit", "Granite", "Maple", "Copper",
    "River", "Stone", "Oak", "Pine", "Clear", "Red", "Golden", "Lake", "Star", "Falcon", "Aspen", "Birch",
    "Coral", "Polar", "Quartz", "Sierra", "Atlas", "Beacon", "Crescent", "Evergreen", "Frontier", "Horizon",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Orchard", "Pioneer", "Redwood", "Tidal", "Willow",
)  # fmt: skip
_ROOTS = (
    "field", "wind", "gate", "bridge", "wood", "brook", "ridge", "point", "path", "line", "wave", "works",
    "port", "light", "peak", "mark", "view", "stack", "forge", "craft",
)  # fmt: skip
_INDUSTRIES = (
    "Labs", "Systems", "Networks", "Analytics", "Logistics", "Health", "Robotics", "Software", "Studios",
    "Dynamics", "Energy", "Foods", "Media", "Security", "Cloud", "Data", "Biotech", "Capital", "Partners",
    "Design", "Manufacturing", "Consulting", "Telecom", "Retail", "Engineering", "Architects", "Games",
    "Learning", "Legal", "Freight",
)  # fmt: skip
_BILLING_MAILBOXES = ("billing", "accounts", "finance", "ap", "invoices", "accounting")


@dataclass(frozen=True)
class CustomerSpec:
    """What ``customer_create`` receives for one demo customer."""

    external_id: str
    name: str
    currency: str
    fields: dict[str, Any]


def _company_base(rng: random.Random, country: _Country) -> str:
    style = rng.random()
    if style < 0.4:
        return f"{rng.choice(_PREFIXES)}{rng.choice(_ROOTS)} {rng.choice(_INDUSTRIES)}"
    if style < 0.65:
        return f"{rng.choice(_PREFIXES)} {rng.choice(_INDUSTRIES)}"
    if style < 0.85:
        return f"{rng.choice(country.surnames)} {rng.choice(_INDUSTRIES)}"
    first, second = rng.sample(country.surnames, 2)
    return f"{first} & {second}"


def _vat_id(rng: random.Random, country: _Country) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(9))
    if country.code == "NL":
        return f"NL{digits}B01"
    if country.code == "FR":
        return f"FR{digits[:2]}{digits}"
    if country.code == "ES":
        return f"ESB{digits[:8]}"
    if country.code == "IE":
        return f"IE{digits[:7]}{rng.choice('ABCDEFGHW')}"
    if country.code == "IT":
        return f"IT{digits}{digits[:2]}"
    if country.code == "AT":
        return f"ATU{digits[:8]}"
    return f"{country.vat_prefix}{digits}"


def customer_specs(count: int = CUSTOMER_COUNT, *, seed: int = SEED) -> tuple[CustomerSpec, ...]:
    """``count`` deterministic customers (``cus_0001``...): the same list on every call."""
    rng = random.Random(seed)
    weights = [c.weight for c in COUNTRIES]
    seen: set[str] = set()
    specs: list[CustomerSpec] = []
    while len(specs) < count:
        country = rng.choices(COUNTRIES, weights=weights)[0]
        base = _company_base(rng, country)
        if base in seen:
            continue
        seen.add(base)
        index = len(specs) + 1
        size = rng.choices(("small", "medium", "large"), weights=(60, 30, 10))[0]
        if size == "small":
            net_terms = 0
            anchor = BillingAnchor.CALENDAR if rng.random() < 0.25 else BillingAnchor.ANNIVERSARY
        elif size == "medium":
            net_terms = rng.choice((0, 15))
            anchor = BillingAnchor.CALENDAR if rng.random() < 0.5 else BillingAnchor.ANNIVERSARY
        else:
            net_terms = rng.choice((15, 30))
            anchor = BillingAnchor.CALENDAR if rng.random() < 0.8 else BillingAnchor.ANNIVERSARY
        city = rng.choice(country.cities)
        domain = slugify(base.replace("&", " ")) + rng.choice(country.tlds)
        suite = f"Suite {rng.randint(100, 950)}" if country.code == "US" and size != "small" else ""
        fields: dict[str, Any] = {
            "email": f"{rng.choice(_BILLING_MAILBOXES)}@{domain}",
            "domain": domain,
            "timezone": city.timezone,
            "billing_anchor": anchor,
            "net_terms_days": net_terms,
            "address_line1": rng.choice(city.streets).format(n=rng.randint(1, 240)),
            "address_line2": suite,
            "city": city.city,
            "postal_code": city.postal_code,
            "state": city.state,
            "country": country.code,
            "tax_id": _vat_id(rng, country) if country.vat_prefix and size != "small" else "",
        }
        specs.append(
            CustomerSpec(
                external_id=f"cus_{index:04d}",
                name=f"{base} {rng.choice(country.legal_forms)}",
                currency=country.currency,
                fields=fields,
            )
        )
    return tuple(specs)


# --- the seed ---------------------------------------------------------------------------------------


@dataclass
class SeedReport:
    """What one run created (zeros on a second run) and the staff logins it set up."""

    products: int = 0
    metrics: int = 0
    plans: int = 0
    coupons: int = 0
    customers: int = 0
    users: int = 0
    customers_total: int = 0
    logins: tuple[DemoLogin, ...] = field(default_factory=tuple)

    @property
    def created_anything(self) -> bool:
        return any((self.products, self.metrics, self.plans, self.coupons, self.customers, self.users))


def _seed_product() -> int:
    _, created = Product.objects.get_or_create(
        code=PRODUCT_CODE,
        defaults={
            "name": "Meshwork",
            "description": "A mesh VPN for teams: devices, users and relayed traffic.",
        },
    )
    return int(created)


def _seed_metrics() -> int:
    existing = set(BillableMetric.objects.values_list("code", flat=True))
    created = 0
    for m in METRICS:
        if m.code not in existing:
            metric_create(code=m.code, name=m.name, aggregation=m.aggregation, field_name=m.field_name)
            created += 1
    return created


def _seed_plans() -> int:
    existing = set(Plan.objects.values_list("code", flat=True))
    created = 0
    for draft in plan_drafts():
        if draft.code not in existing:
            plan_create(draft=draft)
            created += 1
    return created


def _seed_coupons() -> int:
    existing = set(Coupon.objects.values_list("code", flat=True))
    created = 0
    for c in COUPONS:
        if c.code not in existing:
            coupon_create(
                code=c.code,
                name=c.name,
                percent_off=c.percent_off,
                amount_off=c.amount_off,
                currency=c.currency,
                duration=c.duration,
                duration_in_months=c.duration_in_months,
            )
            created += 1
    return created


def _seed_customers() -> int:
    existing = set(Customer.objects.values_list("external_id", flat=True))
    created = 0
    for spec in customer_specs():
        if spec.external_id not in existing:
            customer_create(
                external_id=spec.external_id, name=spec.name, currency=spec.currency, **spec.fields
            )
            created += 1
    return created


def _seed_staff() -> int:
    """One staff user per role and a superuser; an existing one is put back in its demo state."""
    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        ensure_roles()
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    user_model = get_user_model()
    created = 0
    for login in DEMO_LOGINS:
        superuser = login.role == SUPERUSER
        user, was_created = user_model.objects.get_or_create(
            username=login.username,
            defaults={
                "email": f"{login.username}@meshwork.example",
                "is_staff": True,
                "is_superuser": superuser,
            },
        )
        created += int(was_created)
        changed = was_created
        if not (user.is_staff and user.is_active and user.is_superuser == superuser):
            user.is_staff, user.is_active, user.is_superuser = True, True, superuser
            changed = True
        # Only rehash when needed: a fresh salt on every run would be a change, and hashing is slow.
        if was_created or not user.check_password(login.password):
            user.set_password(login.password)
            changed = True
        if changed:
            user.save()
        if not superuser:
            user.groups.add(groups[login.role])  # a no-op when it is there already
    return created


def seed_demo(*, stdout: Writer | None = None) -> SeedReport:
    """Create whatever of the demo data set is missing, in one transaction; return what was created."""

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    report = SeedReport(logins=DEMO_LOGINS)
    with transaction.atomic():
        report.products = _seed_product()
        report.metrics = _seed_metrics()
        say(f"metrics: {report.metrics} created")
        report.plans = _seed_plans()
        say(f"plans: {report.plans} created")
        report.coupons = _seed_coupons()
        say(f"coupons: {report.coupons} created")
        report.customers = _seed_customers()
        say(f"customers: {report.customers} created")
        report.users = _seed_staff()
        say(f"staff users: {report.users} created")
    report.customers_total = Customer.objects.count()
    return report
