"""About 200 demo customers with realistic company names and addresses (three in four billed in USD).

Deterministic (``random.Random(42)``, no Faker): ``customer_specs(n)`` is always the same list, and a
shorter list is a prefix of a longer one. Written through ``customer_create``; a customer is created
only when its external id does not exist yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.utils.text import slugify

from accounts.models import BillingAnchor, Customer
from accounts.services.customers import customer_create

CUSTOMER_COUNT = 200
SEED = 42


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


def seed_customers(count: int = CUSTOMER_COUNT) -> int:
    """Create the first ``count`` demo customers that are missing; return how many were created."""
    existing = set(Customer.objects.values_list("external_id", flat=True))
    created = 0
    for spec in customer_specs(count):
        if spec.external_id not in existing:
            customer_create(
                external_id=spec.external_id, name=spec.name, currency=spec.currency, **spec.fields
            )
            created += 1
    return created
