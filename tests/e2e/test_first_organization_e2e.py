"""From an empty database to a team, in a real browser with a real SMTP server: `kilo init`
with the demo off, the owner's link, sign-in, an e-mailed invitation accepted, a password
reset through an e-mailed link, and a sign-in with the new password."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.app_utils import choose, dialog, shot, sign_in, wait_idle
from tests.e2e.conftest import ROOT, dashboard
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e
OWNER = "hank.scorpio@globex.example"
MEMBER = "homer@globex.example"


def _join(browser, link: str, name: str, password: str) -> None:  # noqa: ANN001
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(link, wait_until="networkidle")
    page.get_by_label("Your name").fill(name)
    pw = page.locator("input[type=password]")
    pw.nth(0).fill(password)
    pw.nth(1).fill(password)
    page.get_by_role("button", name="Join").click()
    page.get_by_text("Welcome!").wait_for(timeout=60_000)
    ctx.close()


def test_init_invite_by_mail_and_reset_a_password(browser, tmp_path):
    with SmtpServer() as smtp, dashboard(tmp_path, KILO_DEMO="0", **smtp.env) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url, wait_until="networkidle")
        page.get_by_text("python -m kilo init").first.wait_for(timeout=90_000)

        out = subprocess.run(
            [sys.executable, "-m", "kilo", "init", "--org", "Globex", "--owner-email", OWNER],
            cwd=ROOT,
            env=dict(
                os.environ,
                DATABASE_URL=f"sqlite:///{tmp_path / 'kilo.db'}",
                KILO_PUBLIC_URL=url,
                KILO_DEMO="0",
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        owner_link = re.search(r"http\S+accept_invite\?token=\S+", out).group(0)
        _join(browser, owner_link, "Hank Scorpio", "volcano-lair-2026")

        sign_in(page, url, OWNER, "volcano-lair-2026")
        page.get_by_role("heading", name="Globex").wait_for(timeout=90_000)
        sidebar = page.locator("[data-testid=stSidebar]")
        sidebar.get_by_text("Role: owner").wait_for()

        # invite by e-mail: the SMTP server receives the link
        page.locator(".st-key-org_invite_open button").click()
        d = dialog(page)
        d.get_by_label("Email").fill(MEMBER)
        d.get_by_role("button", name="Create invitation").click()
        page.get_by_text(f"e-mailed to {MEMBER}").first.wait_for(timeout=60_000)
        (invitation,) = smtp.wait_for(1)
        assert invitation["To"] == MEMBER
        _join(browser, SmtpServer.link(invitation), "Homer Simpson", "donut-safety-inspector")

        # reset the new member's password through an e-mailed link
        page.reload(wait_until="networkidle")
        wait_idle(page)
        choose(page, page.locator(".st-key-org_member_pick"), MEMBER)
        page.locator(".st-key-org_member_reset button").click()
        d = dialog(page)
        d.get_by_role("button", name="Create link").click()
        d.get_by_text(f"Reset link e-mailed to {MEMBER}").wait_for(timeout=60_000)
        shot(page, "reset_link_dialog")
        reset = smtp.wait_for(2)[1]
        assert reset["To"] == MEMBER and "reset_password?token=" in SmtpServer.link(reset)

        ctx = browser.new_context()
        member = ctx.new_page()
        member.goto(SmtpServer.link(reset), wait_until="networkidle")
        pw = member.locator("input[type=password]")
        pw.nth(0).fill("duff-beer-forever-42")
        pw.nth(1).fill("duff-beer-forever-42")
        member.get_by_role("button", name="Set password").click()
        member.get_by_text("Your password was changed").wait_for(timeout=60_000)
        member.get_by_role("link", name="Go to sign in").click()
        member.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        member.get_by_label("Username").fill(MEMBER)
        member.locator("input[type=password]").fill("donut-safety-inspector")
        member.get_by_role("button", name="Sign in").click()
        member.get_by_text("Username or password is incorrect.").wait_for(timeout=60_000)
        sign_in(member, url, MEMBER, "duff-beer-forever-42")
        member.locator("[data-testid=stSidebar]").get_by_text("Role: member").wait_for()
        shot(member, "member_after_reset")
        ctx.close()
        page.close()
