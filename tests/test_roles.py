"""Models in other accounts: read and called through the role a model names, assumed with
moto's STS, the credentials kept until near their expiry and shared by one client per
role and region; and the role_arn a registration may give."""
from __future__ import annotations

from dataclasses import replace

import pytest
from botocore.stub import Stubber

from chalicelib.bedrock import Invoker
from chalicelib.clients import STS_CONFIG, Clients
from chalicelib.records import Role
from helpers import at, calls, register, send, show
from local.simulator import ManualClock

OTHER = "arn:aws:bedrock:us-west-2:111122223333:imported-model/otheracct001"
ROLE = "arn:aws:iam::111122223333:role/keepwarm-target"
PATTERN = "arn:aws:iam::*:role/keepwarm-*"
WINDOWS = [{"days": "MON-FRI", "start": "09:00", "stop": "18:00"}]


@pytest.fixture
def sts(moto_url, monkeypatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    return moto_url


@pytest.fixture
def roles(runtime, sts):
    """The service with KEEPWARM_ASSUME_ROLE_PATTERN set, and STS on moto."""
    runtime.settings = replace(runtime.settings, assume_role_pattern=PATTERN)
    return runtime


def test_a_model_in_another_account_is_read_and_called_through_its_role(client, roles, driver, simulator):
    simulator.add_model(OTHER, load_seconds=30)
    model = register(client, model_arn=OTHER, name="other", role_arn=ROLE, external_id="kw-ext-1")
    assert (model["role_arn"], model["external_id"]) == (ROLE, "kw-ext-1")
    assert model["state"]["verification"]["status"] == "verified"
    # Registration read the model with the role's (temporary, ASIA...) credentials, not ours.
    (lookup,) = simulator.inspect(OTHER)["lookups"]
    assert lookup["access_key"].startswith("ASIA")
    driver.run_until(at(9, 5))
    assert show(client, "other")["state"]["status"] == "warm"
    keys = {c["access_key"] for c in calls(simulator, OTHER)}
    assert len(keys) == 1 and keys.pop().startswith("ASIA")  # one session for every call


def test_a_model_without_a_role_is_called_with_keepwarms_own_credentials(client, roles, driver, simulator):
    simulator.add_model(OTHER, load_seconds=30)
    register(client, model_arn=OTHER, name="own")
    driver.run_until(at(9, 5))
    assert {c["access_key"] for c in calls(simulator, OTHER)} == {"testing"}


@pytest.mark.parametrize("change, message", [
    ({"role_arn": "arn:aws:iam::111122223333:user/keepwarm-x"},
     "role_arn: 'arn:aws:iam::111122223333:user/keepwarm-x' is not an IAM role ARN; "
     "expected arn:<partition>:iam::<12-digit account>:role/<name>"),
    ({"role_arn": ROLE + "\n"}, "role_arn: 'arn:aws:iam::111122223333:role/keepwarm-target\\n' is not an IAM role ARN"),
    ({"role_arn": 42}, "role_arn: '42' is not an IAM role ARN"),
    ({"role_arn": "arn:aws-cn:iam::111122223333:role/keepwarm-x"},
     "role_arn: is in partition aws-cn and the model in aws; a role is assumed in the model's own partition"),
    ({"role_arn": "arn:aws:iam::111122223333:role/admin"},
     "role_arn: 'arn:aws:iam::111122223333:role/admin' is not a role this keepwarm may assume: "
     f"they match {PATTERN}"),
    ({"role_arn": "arn:aws:iam::111122223333:role/team/keepwarm-x"},
     "role_arn: 'arn:aws:iam::111122223333:role/team/keepwarm-x' is not a role this keepwarm may assume"),
    ({"external_id": "kw-ext-1"}, "external_id: is only used with role_arn"),
    ({"role_arn": ROLE, "external_id": "has spaces"}, "external_id: must be 2-1224 letters, digits"),
    ({"role_arn": ROLE, "external_id": "x"}, "external_id: must be 2-1224 letters, digits"),
])
def test_a_role_is_refused_unless_it_is_a_role_arn_the_operator_allows(client, roles, change, message):
    response = send(client, "POST", "/models", {"model_arn": OTHER, "windows": WINDOWS, **change})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(message), response.json_body
    assert client.http.get("/models").json_body["models"] == []


def test_without_a_pattern_keepwarm_assumes_no_roles_and_says_how_to_allow_them(client, runtime):
    response = send(client, "POST", "/models", {"model_arn": OTHER, "windows": WINDOWS, "role_arn": ROLE})
    assert response.status_code == 400
    assert response.json_body["Message"] == (
        "role_arn: this keepwarm assumes no roles: its operator sets KEEPWARM_ASSUME_ROLE_PATTERN "
        "(e.g. arn:aws:iam::*:role/keepwarm-*) and grants sts:AssumeRole on the same roles")


def test_a_role_that_does_not_trust_keepwarm_is_a_400_naming_the_trust_policy(client, roles):
    with Stubber(roles.clients.client("sts", "us-west-2", STS_CONFIG)) as stub:
        stub.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403,
                              service_message="User: arn:aws:sts::123456789012:assumed-role/api/x is not "
                                              "authorized to perform: sts:AssumeRole")
        response = send(client, "POST", "/models", {"model_arn": OTHER, "windows": WINDOWS, "role_arn": ROLE,
                                                    "external_id": "kw-ext-1"})
    assert response.status_code == 400, response.body
    message = response.json_body["Message"]
    assert message.startswith(f"role_arn: keepwarm may not assume {ROLE} (sts:AssumeRole: AccessDenied: ")
    assert message.endswith("the role's trust policy must allow keepwarm's roles and the external id it names")


def test_a_role_changed_by_a_put_is_checked_like_a_registration(client, roles, simulator):
    simulator.add_model(OTHER, load_seconds=30)
    register(client, model_arn=OTHER, name="other", role_arn=ROLE)
    with Stubber(roles.clients.client("sts", "us-west-2", STS_CONFIG)) as stub:
        stub.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403)
        refused = send(client, "PUT", "/models/other", {"role_arn": ROLE.replace("target", "second")})
    assert refused.status_code == 400 and refused.json_body["Message"].startswith("role_arn: keepwarm may not")
    assert show(client, "other")["role_arn"] == ROLE
    # Dropping the role drops its external id with it, and the model is read as keepwarm.
    dropped = send(client, "PUT", "/models/other", {"role_arn": None})
    assert dropped.status_code == 200 and (dropped.json_body["role_arn"], dropped.json_body["external_id"]) == (None, None)


def test_a_role_the_worker_cannot_assume_is_an_error_once_per_window(client, roles, driver, simulator):
    simulator.add_model(OTHER, load_seconds=30)
    register(client, model_arn=OTHER, name="other", role_arn=ROLE)
    clients = Clients()
    roles.invoker = Invoker(roles.settings, clients)
    with Stubber(clients.client("sts", "us-west-2", STS_CONFIG)) as stub:
        stub.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403,
                              service_message="not authorized")
        driver.run_until(at(12))
    state = show(client, "other")["state"]
    assert state["status"] == "error"
    assert state["error"].startswith(f"AccessDenied: keepwarm may not assume {ROLE}")
    assert calls(simulator, OTHER) == []  # nothing reached the model; one refused attempt, no loop


# -- credentials ---------------------------------------------------------------------------------
def test_credentials_are_reused_until_five_minutes_before_they_expire(sts):
    from chalicelib.bedrock import CONTROL_PLANE_CONFIG as CONFIG

    clock = ManualClock()  # the real time: STS's expiry times are real ones
    clients = Clients(clock=clock)
    assumed: list[str] = []
    for region in ("us-west-2", "eu-central-1"):
        clients.client("sts", region, STS_CONFIG).meta.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(params["RoleArn"]))
    role = Role(ROLE, "kw-ext-1")

    west = clients.client("bedrock", "us-west-2", CONFIG, role)
    assert clients.client("bedrock", "us-west-2", CONFIG, role) is west  # one client per role and region
    key = west._get_credentials().access_key
    assert key.startswith("ASIA")
    central = clients.client("bedrock", "eu-central-1", CONFIG, role)
    assert central is not west and central._get_credentials().access_key == key  # the same session
    assert clients.client("bedrock", "us-west-2", CONFIG) is not west  # keepwarm's own
    assert assumed == [ROLE]

    other = Role("arn:aws:iam::444455556666:role/keepwarm-b")
    clients.client("bedrock", "us-west-2", CONFIG, other)
    assert assumed == [ROLE, other.arn]

    clock.advance(3600 - 300 - 5)  # an hour's session, five minutes and a bit left
    assert clients.client("bedrock", "us-west-2", CONFIG, role) is west and len(assumed) == 2
    clock.advance(10)  # less than five minutes left: assumed again, and a client with the new keys
    renewed = clients.client("bedrock", "us-west-2", CONFIG, role)
    assert assumed == [ROLE, other.arn, ROLE]
    assert renewed is not west and renewed._get_credentials().access_key != key


def test_assume_role_sends_the_external_id_and_a_one_hour_session(sts):
    clients = Clients()
    sent: list[dict] = []
    clients.client("sts", "us-west-2", STS_CONFIG).meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: sent.append(dict(params)))
    clients.client("bedrock-runtime", "us-west-2", STS_CONFIG, Role(ROLE, "kw-ext-1"))
    assert sent == [{"RoleArn": ROLE, "RoleSessionName": "keepwarm", "DurationSeconds": 3600,
                     "ExternalId": "kw-ext-1"}]


def test_a_role_that_may_not_read_the_model_is_told_which_permissions_it_needs(client, roles):
    from chalicelib.bedrock import CONTROL_PLANE_CONFIG

    as_role = roles.clients.client("bedrock", "us-west-2", CONTROL_PLANE_CONFIG, Role(ROLE))
    with Stubber(as_role) as stub:
        stub.add_client_error("get_imported_model", service_error_code="AccessDeniedException",
                              http_status_code=403, service_message="not authorized")
        response = send(client, "POST", "/models", {"model_arn": OTHER, "windows": WINDOWS, "role_arn": ROLE})
    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(
        f"role_arn: the role {ROLE} may not read {OTHER}: it needs bedrock:GetImportedModel on it (to check it) "
        "and bedrock:InvokeModel (to call it)")
