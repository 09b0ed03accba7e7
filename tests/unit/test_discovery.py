"""The locators and the registration against a stand-in Consul client: what they do with answers
a real agent rarely gives (the integration tests run the real one)."""

import threading

import pytest

from discovery import locators
from discovery.registration import ConsulRegistration
from localmode.wait import wait_until


def entry(address, port=5001, **meta):
    return {"Node": {"Address": address}, "Service": {"Address": address, "Port": port, "Meta": meta or None}}


class FakeConsul:
    """Stands in for py-consul's module and client: health.service answers from a script, and
    goes on answering its last entry (a blocking query that found nothing new)."""

    class ConsulException(Exception):
        pass

    def __init__(self, *answers):
        self.answers = list(answers)
        self.health = self

    def Consul(self, **_):  # noqa: N802 (the module's class, as py-consul names it)
        return self

    def service(self, name, passing, index=None, wait=None):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if index is not None:
            threading.Event().wait(0.02)  # a blocking query waits a little
        return answer


@pytest.fixture
def locator_with():
    """locator_with(fake, **kwargs) -> a ConsulLocator asking `fake`; its watch ended after the test."""
    made = []

    def make(fake, **kwargs):
        locator = locators.ConsulLocator("user-service", client=fake, **kwargs)
        locator._consul_module = fake
        made.append(locator)
        return locator

    yield make
    for locator in made:
        assert locator.stop(timeout=5), "a watch went on after stop()"


def test_the_cached_view_goes_on_after_an_answer_it_did_not_expect(locator_with):
    """A watcher that dies keeps its last view for ever, and no staleness limit applies to it."""
    fake = FakeConsul(("1", [entry("10.0.0.1")]), RuntimeError("surprise"), ("2", [entry("10.0.0.2")]))
    locator = locator_with(fake, lookup="cached")
    locator.start()
    wait_until(lambda: locator.passing_instances() == [("10.0.0.2", 5001)], 5, "the view to follow Consul")


def test_the_cached_view_is_refused_once_consul_failed_for_longer_than_the_stale_limit(locator_with):
    fake = FakeConsul(("1", [entry("10.0.0.1")]), FakeConsul.ConsulException("down"))
    locator = locator_with(fake, lookup="cached", stale_seconds=0.3)
    locator.start()
    with pytest.raises(locators.NoInstanceAvailable, match="too stale"):
        wait_until(lambda: not locator.passing_instances(), 5, "the view to be refused")


def test_an_instance_without_the_named_port_is_left_out(locator_with):
    """A gRPC lookup never goes to an instance's HTTP port (one registered without USER_API=grpc)."""
    fake = FakeConsul(
        ("1", [entry("10.0.0.1", grpc_port="50051"), entry("10.0.0.2"), entry("10.0.0.3", grpc_port="x")])
    )
    locator = locator_with(fake, lookup="per-request", port="grpc_port", scheme="grpc")
    assert locator.passing_instances() == [("10.0.0.1", 50051)]


@pytest.mark.parametrize("value", ["abc", "-5", "nan"])
def test_a_stale_limit_that_is_no_number_of_seconds_is_refused(value):
    with pytest.raises(ValueError, match="CONSUL_STALE_SECONDS"):
        locators.ConsulLocator("user-service", client=FakeConsul(("1", [])), stale_seconds=value)


class FakeAgent:
    """py-consul's agent: service definitions by id; service_definition can be held mid-call."""

    def __init__(self):
        self.agent, self.service = self, self
        self.services, self.asked, self.go_on = set(), threading.Event(), threading.Event()

    def register(self, name, service_id, **_):
        self.services.add(service_id)

    def deregister(self, service_id):
        self.services.discard(service_id)

    def service_definition(self, service_id):
        self.asked.set()
        self.go_on.wait(5)  # the deregistration happens while the loop waits for this answer
        return None  # "not registered": the agent has just forgotten us (we deregistered)


def test_a_re_registration_never_puts_back_an_instance_that_has_deregistered():
    agent = FakeAgent()
    registration = ConsulRegistration("user-service", port=5001, address="127.0.0.1", client=agent)
    registration.register()
    registration.keep_registered(every=0.01)
    assert agent.asked.wait(5)
    registration.deregister()  # SIGTERM, while the loop's question is on its way
    agent.go_on.set()
    wait_until(
        lambda: not any(t.name == "consul-reregister" and t.is_alive() for t in threading.enumerate()),
        5,
        "the re-registration loop to end",
    )
    assert agent.services == set()
