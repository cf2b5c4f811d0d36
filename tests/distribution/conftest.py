from tests.distribution.fixtures import (  # noqa: F401
    customer_link,
    employee_link,
    journey,
    make_link,
    questionnaire,
)
