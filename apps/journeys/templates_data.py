"""Starter journeys a company copies into a new journey, each written in English and Finnish.

Touchpoint tuples: (channel, importance, {"en": (name, description), "fi": (name, description)}).
"""

from dataclasses import dataclass, field

Texts = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class TouchpointTemplate:
    channel: str
    importance: int
    texts: Texts


@dataclass(frozen=True)
class StageTemplate:
    texts: Texts
    touchpoints: list[TouchpointTemplate] = field(default_factory=list)


@dataclass(frozen=True)
class JourneyTemplate:
    slug: str
    texts: Texts
    stages: list[StageTemplate]

    def name_in(self, language: str) -> str:
        return self.texts.get(language, self.texts["en"])[0]


def _tp(
    channel: str, importance: int, en: tuple[str, str], fi: tuple[str, str]
) -> TouchpointTemplate:
    return TouchpointTemplate(channel, importance, {"en": en, "fi": fi})


B2B_SALES_AND_SERVICE = JourneyTemplate(
    slug="b2b-sales-service",
    texts={
        "en": ("B2B sales and service", "From first impression to support after delivery."),
        "fi": ("B2B-myynti ja palvelu", "Ensivaikutelmasta toimituksen jälkeiseen tukeen."),
    },
    stages=[
        StageTemplate(
            {"en": ("Awareness", "How customers first get to know us."),
             "fi": ("Tietoisuus", "Miten asiakkaat oppivat tuntemaan meidät.")},
            [
                _tp("other", 3,
                    ("Brand impression", "What customers think of us before they deal with us."),
                    ("Brändimielikuva", "Mitä asiakkaat ajattelevat meistä ennen asiointia.")),
                _tp("digital", 3,
                    ("Website", "Finding information and contacts on our website."),
                    ("Verkkosivusto", "Tiedon ja yhteystietojen löytäminen verkkosivuiltamme.")),
            ],
        ),
        StageTemplate(
            {"en": ("Purchase", "Meeting sales and deciding to buy."),
             "fi": ("Osto", "Myynnin tapaaminen ja ostopäätös.")},
            [
                _tp("in_person", 4,
                    ("Sales visit", "Our salesperson meets the customer to understand the need."),
                    ("Myyntikäynti", "Myyjämme tapaa asiakkaan ja selvittää tarpeen.")),
                _tp("email", 4,
                    ("Offer", "The written offer: clear content, price and terms."),
                    ("Tarjous", "Kirjallinen tarjous: selkeä sisältö, hinta ja ehdot.")),
            ],
        ),
        StageTemplate(
            {"en": ("Delivery", "Getting what was bought, and paying for it."),
             "fi": ("Toimitus", "Ostetun saaminen ja siitä maksaminen.")},
            [
                _tp("physical", 5,
                    ("Delivery", "The product or service arrives as agreed."),
                    ("Toimitus", "Tuote tai palvelu toimitetaan sovitusti.")),
                _tp("email", 3,
                    ("Invoicing", "Correct, understandable invoices."),
                    ("Laskutus", "Oikeat ja ymmärrettävät laskut.")),
            ],
        ),
        StageTemplate(
            {"en": ("Service", "Help after the purchase."),
             "fi": ("Palvelu", "Apu oston jälkeen.")},
            [
                _tp("phone", 4,
                    ("Support call", "Calling our support when something needs fixing."),
                    ("Tukipuhelu", "Soitto tukeemme, kun jokin pitää korjata.")),
            ],
        ),
    ],
)  # fmt: skip

RETAIL_WITH_WEB_SHOP = JourneyTemplate(
    slug="retail-web-shop",
    texts={
        "en": ("Retail store with web shop", "Shopping in our stores and online."),
        "fi": ("Myymälä ja verkkokauppa", "Ostokset myymälöissämme ja verkossa."),
    },
    stages=[
        StageTemplate(
            {"en": ("Inspiration", "Finding out what we offer."),
             "fi": ("Inspiraatio", "Tarjontaamme tutustuminen.")},
            [
                _tp("digital", 3,
                    ("Advertising and social media", "Our campaigns and posts."),
                    ("Mainonta ja some", "Kampanjamme ja julkaisumme.")),
                _tp("digital", 4,
                    ("Web shop browsing", "Searching and comparing products online."),
                    ("Verkkokaupan selailu", "Tuotteiden haku ja vertailu verkossa.")),
            ],
        ),
        StageTemplate(
            {"en": ("Buying", "Choosing and paying."),
             "fi": ("Ostaminen", "Valinta ja maksaminen.")},
            [
                _tp("physical", 4,
                    ("Store visit", "Finding products and help in the store."),
                    ("Myymäläkäynti", "Tuotteiden ja avun löytäminen myymälästä.")),
                _tp("physical", 3,
                    ("Checkout", "Paying at the till."),
                    ("Kassa", "Maksaminen kassalla.")),
                _tp("digital", 4,
                    ("Online checkout", "Paying and choosing delivery in the web shop."),
                    ("Verkkokaupan kassa", "Maksaminen ja toimitustavan valinta verkossa.")),
            ],
        ),
        StageTemplate(
            {"en": ("After purchase", "Getting the goods and help."),
             "fi": ("Oston jälkeen", "Tuotteiden saaminen ja apu.")},
            [
                _tp("physical", 4,
                    ("Delivery or pick-up", "Receiving an online order."),
                    ("Toimitus tai nouto", "Verkkotilauksen vastaanottaminen.")),
                _tp("in_person", 3,
                    ("Returns", "Returning or exchanging a product."),
                    ("Palautukset", "Tuotteen palauttaminen tai vaihtaminen.")),
                _tp("email", 2,
                    ("Customer service", "Asking for help by email or chat."),
                    ("Asiakaspalvelu", "Avun pyytäminen sähköpostilla tai chatissa.")),
            ],
        ),
    ],
)  # fmt: skip

SUBSCRIPTION_SERVICE = JourneyTemplate(
    slug="subscription-service",
    texts={
        "en": ("Subscription service", "Signing up, using and renewing a subscription."),
        "fi": ("Tilauspalvelu", "Tilauksen tekeminen, käyttö ja jatkaminen."),
    },
    stages=[
        StageTemplate(
            {"en": ("Joining", "Choosing a plan and signing up."),
             "fi": ("Liittyminen", "Tilausvaihtoehdon valinta ja liittyminen.")},
            [
                _tp("digital", 3,
                    ("Plans and pricing", "Understanding what each plan offers."),
                    ("Tilausvaihtoehdot ja hinnat", "Mitä kukin vaihtoehto sisältää.")),
                _tp("digital", 4,
                    ("Sign-up", "Creating an account and paying."),
                    ("Rekisteröityminen", "Tilin luominen ja maksaminen.")),
                _tp("email", 3,
                    ("Welcome and onboarding", "Getting started with the service."),
                    ("Tervetuloa ja käyttöönotto", "Palvelun käytön aloittaminen.")),
            ],
        ),
        StageTemplate(
            {"en": ("Using", "Everyday use of the service."),
             "fi": ("Käyttö", "Palvelun arkinen käyttö.")},
            [
                _tp("digital", 5,
                    ("Using the service", "The service itself, day to day."),
                    ("Palvelun käyttö", "Itse palvelu päivittäin.")),
                _tp("email", 3,
                    ("Billing", "Charges and receipts."),
                    ("Laskutus", "Veloitukset ja kuitit.")),
                _tp("phone", 4,
                    ("Customer support", "Getting help when something goes wrong."),
                    ("Asiakastuki", "Avun saaminen ongelmatilanteissa.")),
            ],
        ),
        StageTemplate(
            {"en": ("Renewal", "Changing plans, renewing or leaving."),
             "fi": ("Jatkaminen", "Vaihtoehdon vaihto, jatkaminen tai lopettaminen.")},
            [
                _tp("digital", 3,
                    ("Changing the plan", "Upgrading, downgrading or pausing."),
                    ("Tilauksen muuttaminen", "Laajentaminen, supistaminen tai keskeytys.")),
                _tp("digital", 4,
                    ("Cancelling", "Ending the subscription."),
                    ("Tilauksen lopettaminen", "Tilauksen päättäminen.")),
            ],
        ),
    ],
)  # fmt: skip

TEMPLATES: dict[str, JourneyTemplate] = {
    t.slug: t for t in (B2B_SALES_AND_SERVICE, RETAIL_WITH_WEB_SHOP, SUBSCRIPTION_SERVICE)
}
TEMPLATE_LANGUAGES = ("en", "fi")
