"""Sign-in through the real streamlit-authenticator form, roles, sign-out, refusals."""

from streamlit.testing.v1 import AppTest

from tests.pages.helpers import APP, texts


def login(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    user = next(t for t in at.text_input if t.label == "Username")
    pw = next(t for t in at.text_input if t.label == "Password")
    user.input(username)
    pw.input(password)
    next(b for b in at.button if b.label == "Login").click()
    at.run()
    at.run()
    return at


def test_login_page_shows_demo_accounts(demo_url):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert "kilo-demo" in texts(at)


def test_owner_signs_in_with_the_real_form_and_sees_all_tabs(demo_url):
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "kilo-demo")
    assert not at.exception
    assert at.session_state["authentication_status"] is True
    assert at.session_state["actor"].role == "owner"
    assert "Acme Robotics" in [t.value for t in at.title]


def test_wrong_password_is_refused(demo_url):
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "wrong-password")
    assert not at.session_state["authentication_status"]
    assert "Username or password is incorrect." in [e.value for e in at.error]
