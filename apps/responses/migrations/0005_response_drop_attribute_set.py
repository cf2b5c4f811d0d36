"""Responses: the `attribute_set` column and its index go.

The scoring pipeline resolves each response's segment to its attribute set when it reads the
response (apps.scoring.services) and no longer writes it back, so the column stayed NULL while
its index was written with every response stored and with every response marked processed.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0004_answer_composite_foreign_key"),
    ]

    operations = [
        migrations.RemoveField(model_name="response", name="attribute_set"),
    ]
