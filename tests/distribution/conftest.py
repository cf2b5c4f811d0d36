from tests.distribution.fixtures import (  # noqa: F401
    customer_link,
    employee_link,
    journey,
    make_link,
    questionnaire,
)
from tests.distribution.mail_fixtures import smtp  # noqa: F401
