"""``sipas demo-papi``: the PAPI-style demo campaign (see :mod:`survey.services.demo_papi`)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .extensions import db


@click.command("demo-papi", help="Add a PAPI-style demo campaign (papi-d5-d6), idempotent.")
@click.option("--responses", default=800, show_default=True,
              help="Synthetic responses to create on the first run.")
@click.option("--seed", default=20261123, show_default=True, help="Random seed.")
@with_appcontext
def demo_papi_command(responses: int, seed: int) -> None:
    """Load the PAPI demo campaign and print its form URLs."""
    from .services.demo_papi import load_papi_demo

    summary = load_papi_demo(responses=responses, seed=seed)
    db.session.commit()
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo(f"PAPI demo campaign: {summary['responses']} responses "
               f"({'created now' if summary['created'] else 'already loaded'}); results at "
               f"/admin/campaigns/{summary['campaign_id']}/results")
    for label, code in summary["codes"]:
        click.echo(f"  {base}/s/{code}   {label}")


def register(app: Flask) -> None:
    """Attach ``demo-papi`` to ``app.cli``."""
    app.cli.add_command(demo_papi_command)
