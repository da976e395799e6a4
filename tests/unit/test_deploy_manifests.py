"""deploy/ checked without Docker or a cluster: the compose file, the Kubernetes manifests,
the Dockerfile, the topic script, the dashboard and the traffic generator.

What can run here runs (the topic script against a stand-in ``kafka-topics.sh``, the
traffic generator's dry run); the rest is parsed and checked against the code it must
agree with: setting names from ``stream_apps.settings``, topic names from
``stream_apps.kafka.topics``, metric names from ``stream_apps.worker.metrics``. Schemas: the Compose
Specification (vendored in deploy/schemas) and Kubernetes' own (``kubernetes-validate``,
offline); KEDA and Strimzi kinds have no packaged schema, so their structure is checked
here.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shlex
import subprocess
from contextlib import redirect_stdout
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_apps.kafka.topics import COMPACTED, EVENT_TOPICS, SINGLE_PARTITION, TopicNames
from stream_apps.settings import Settings, env_name, from_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.34"  # the oldest minor the manifests are meant for

# Environment variables that are not streamrec settings but are read by something we run.
FOREIGN_ENV = {
    "NODE_CANONICAL_URL": "Faust's own setting: the URL other workers forward requests to",
    "POD_IP": "Kubernetes downward API, only to build NODE_CANONICAL_URL",
}
# Custom resources: no schema in kubernetes-validate; checked structurally below.
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "KafkaTopic", "KafkaUser", "Kustomization"}
CLUSTER_SCOPED = {"Namespace", "Kustomization"}


# ------------------------------------------------------------------ loading


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def k8s_one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for _, d in k8s_docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def k8s_all(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in k8s_docs() if d["kind"] == kind]


def streamrec_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if str(s.get("image", "")).startswith("streamrec:")}


def worker_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in streamrec_services(compose).items() if (s.get("command") or [""])[0] == "worker"}


def kafka_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items()
            if str(s.get("image", "")).startswith("apache/kafka:") and "KAFKA_NODE_ID" in (s.get("environment") or {})}


def str_env(env: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in env.items()}


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings a worker builds from this environment (only what from_env reads)."""
    return from_env({k: v for k, v in env.items() if k.startswith("STREAMREC_") or k == "KAFKA_BOOTSTRAP_SERVERS"})


def check_env_names(env: dict[str, Any], where: str) -> None:
    known = {env_name(f.name) for f in fields(Settings)} | {"KAFKA_BOOTSTRAP_SERVERS"}
    for key in env:
        if key.startswith("STREAMREC_"):
            assert key in known, f"{where}: {key} is not a setting in stream_apps/settings.py"
        else:
            assert key in known or key in FOREIGN_ENV, f"{where}: {key} is neither a setting nor known"


def run_topic_script(tmp_path: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """deploy/kafka/create-topics.sh against a stand-in kafka-topics.sh; the topics it creates."""
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$*"\n')
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(DEPLOY / "kafka" / "create-topics.sh")], capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin", "KAFKA_TOPICS": str(fake), **env},
                            timeout=30, check=True)
    created = []
    for line in result.stdout.splitlines():
        args = shlex.split(line)
        if "--create" not in args:
            continue
        configs = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--config")
        created.append({"topic": args[args.index("--topic") + 1],
                        "partitions": int(args[args.index("--partitions") + 1]),
                        "replication": int(args[args.index("--replication-factor") + 1]),
                        "bootstrap": args[args.index("--bootstrap-server") + 1], "config": configs})
    return created


# ------------------------------------------------------------------ compose


def test_compose_follows_the_compose_specification() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install kubernetes-validate (brings jsonschema)")
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(load_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_compose_runs_three_kraft_brokers_with_distinct_ids_and_one_quorum() -> None:
    brokers = kafka_services(load_compose())
    assert len(brokers) == 3
    envs = {name: str_env(s["environment"]) for name, s in brokers.items()}
    ids = {name: env["KAFKA_NODE_ID"] for name, env in envs.items()}
    assert len(set(ids.values())) == 3, ids
    voters = {f"{ids[name]}@{brokers[name].get('hostname', name)}:9093" for name in brokers}
    for name, env in envs.items():
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, name
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters, name
        assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"], name
        assert f"PLAINTEXT://{brokers[name].get('hostname', name)}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2 < int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert any(v.endswith(":/var/lib/kafka/data") for v in brokers[name]["volumes"]), name
        assert "kafka-broker-api-versions" in " ".join(brokers[name]["healthcheck"]["test"])
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1


def test_compose_topic_init_creates_every_topic_as_the_workers_expect(tmp_path: Path) -> None:
    compose = load_compose()
    init = compose["services"]["topic-init"]
    assert {name: dep["condition"] for name, dep in init["depends_on"].items()} == \
        {name: "service_healthy" for name in kafka_services(compose)}
    assert any(v.startswith("./kafka/create-topics.sh:") for v in init["volumes"])
    init_env = str_env(init["environment"])
    created = run_topic_script(tmp_path, init_env)

    for name, worker in worker_services(compose).items():
        settings = settings_of(str_env(worker["environment"]))
        assert settings.topic_prefix == init_env["TOPIC_PREFIX"], name
        assert {t["topic"] for t in created} == set(TopicNames.of(settings).all()), name
        for topic in created:
            short = topic["topic"][len(settings.topic_prefix):]
            # The user-state table is co-partitioned with the events: same count everywhere,
            # but for the trainer's one-partition topic.
            assert settings.partitions == 12
            assert topic["partitions"] == (1 if short in SINGLE_PARTITION else 12), topic
            assert topic["replication"] == settings.replication_factor == 3, topic
            assert topic["config"]["min.insync.replicas"] == "2", topic
            expected = "compact" if short in COMPACTED else "delete"
            assert topic["config"]["cleanup.policy"] == expected, topic
            assert ("retention.ms" in topic["config"]) == (expected == "delete"), topic
            assert topic["bootstrap"] == settings.bootstrap_servers


def test_compose_workers_share_a_group_and_start_after_the_topics() -> None:
    compose = load_compose()
    workers = worker_services(compose)
    assert len(workers) >= 2
    brokers = kafka_services(compose)
    urls = set()
    for name, worker in workers.items():
        env = str_env(worker["environment"])
        check_env_names(env, f"compose service {name}")
        settings = settings_of(env)
        assert settings.faust_id == "streamrec" and settings.web_host == "0.0.0.0", name
        assert worker["command"] == ["worker", "--web-host", "0.0.0.0"], name
        assert worker["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
        assert sorted(settings.bootstrap_servers.split(",")) == sorted(f"{b}:9092" for b in brokers)
        assert env["NODE_CANONICAL_URL"] == f"http://{worker['hostname']}:{settings.web_port}", name
        urls.add(env["NODE_CANONICAL_URL"])
        check = " ".join(worker["healthcheck"]["test"])
        assert f"127.0.0.1:{settings.web_port}/health" in check, name
        assert any(p.endswith(f":{settings.web_port}") for p in worker["ports"]), name
        assert worker["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert len(urls) == len(workers)


def test_compose_streamrec_containers_use_only_known_environment_variables() -> None:
    for name, service in streamrec_services(load_compose()).items():
        check_env_names(str_env(service.get("environment") or {}), f"compose service {name}")


def test_compose_traffic_generator_produces_through_the_public_topics() -> None:
    compose = load_compose()
    traffic = compose["services"]["traffic"]
    assert traffic["entrypoint"][:2] == ["python", "/opt/traffic/traffic.py"]
    assert "./traffic.py:/opt/traffic/traffic.py:ro" in traffic["volumes"]
    assert {d for d, c in traffic["depends_on"].items() if c["condition"] == "service_healthy"} == \
        set(worker_services(compose))

    spec = importlib.util.spec_from_file_location("streamrec_deploy_traffic", DEPLOY / "traffic.py")
    assert spec is not None and spec.loader is not None
    traffic_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(traffic_module)
    out = io.StringIO()
    with redirect_stdout(out):
        assert traffic_module.main(["--dry-run", "50", "--users", "20", "--seed", "3"]) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(events) == 50
    names = TopicNames.of(Settings())
    for event in events:
        assert event["type"] in EVENT_TOPICS and event["user_id"] and event["event_id"]
        assert names.event_topic(event["type"]) in names.all()
    with pytest.raises(SystemExit):
        traffic_module.parse_args(["--rate", "0"])


def test_compose_prometheus_scrapes_every_worker_and_grafana_is_provisioned() -> None:
    compose = load_compose()
    prom = compose["services"]["prometheus"]
    mount = next(v for v in prom["volumes"] if v.endswith(":/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((DEPLOY / mount.split(":")[0]).read_text())
    (job,) = config["scrape_configs"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    workers = worker_services(compose)
    assert targets == {f"{w['hostname']}:{settings_of(str_env(w['environment'])).web_port}"
                       for w in workers.values()}
    assert job["metrics_path"] == "/metrics"

    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/streamrec.yml").read_text())
    dashboard_dir = providers["providers"][0]["options"]["path"]
    assert any(target.startswith(dashboard_dir + "/") and (DEPLOY / source).is_file()
               for source, target in mounts.items() if source.endswith(".json"))


def test_dashboard_queries_only_metrics_the_worker_exports() -> None:
    from stream_apps.worker.metrics import WorkerMetrics

    exported = set()
    for family in WorkerMetrics().registry.collect():
        suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"],
                    "summary": ["_sum", "_count", "_created"]}.get(family.type, [""])
        exported.update(family.name + s for s in suffixes)
    dashboard = json.loads((DEPLOY / "grafana" / "streamrec-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", "") for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    used = {m for e in exprs for m in re.findall(r"\b((?:streamrec|process)_[a-z_]+)\b", e)}
    assert used and used <= exported, sorted(used - exported)
    for wanted in ("streamrec_events_total", "streamrec_recommendations_total", "streamrec_dead_letter_total",
                   "streamrec_event_to_recommendation_seconds_bucket", "streamrec_index_items",
                   "streamrec_users_in_state"):
        assert wanted in used, wanted
    # Provisioned dashboards get no import-time substitution: the data source variable the
    # panels name must exist in the dashboard itself.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_builds_a_non_root_offline_worker_image() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line for line in re.sub(r"\\\n", " ", text).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    froms = [line.split()[1] for line in instructions if line.startswith("FROM")]
    assert all(f in ("${PYTHON_IMAGE}",) for f in froms) and "ARG PYTHON_IMAGE=python:3.11-slim" in text
    users = [line.split()[1] for line in instructions if line.startswith("USER")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "HF_HUB_OFFLINE=1" in text
    (healthcheck,) = [line for line in instructions if line.startswith("HEALTHCHECK")]
    assert "/health" in healthcheck and "STREAMREC_WEB_PORT" in healthcheck
    entrypoint = json.loads(next(line for line in instructions if line.startswith("ENTRYPOINT"))[len("ENTRYPOINT"):])
    cmd = json.loads(next(line for line in reversed(instructions) if line.startswith("CMD"))[len("CMD"):])
    assert entrypoint + cmd == ["streamrec", "worker", "--web-host", "0.0.0.0"]
    (expose,) = [line for line in instructions if line.startswith("EXPOSE")]
    assert expose.split()[1] == str(Settings().web_port)
    # Everything COPYed from the build context exists and passes .dockerignore.
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "**"  # an allow-list: the checkout holds a venv and run data
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for line in instructions:
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source in allowed, f"{source} is excluded by .dockerignore"


# ------------------------------------------------------------------ Kubernetes


def test_every_kubernetes_document_has_kind_version_and_name() -> None:
    docs = k8s_docs()
    assert {name for name, _ in docs} == {p.name for p in K8S.glob("*.yaml")}
    for name, doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), name
        assert doc["metadata"]["name"], name
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") in ("streamrec", "kafka"), (name, doc["kind"])


def test_kubernetes_core_kinds_pass_the_kubernetes_schema() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (Kubernetes JSON schemas, offline)")
    checked = 0
    for name, doc in k8s_docs():
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 6
    # The check is not vacuous: a misspelt field is refused.
    broken = json.loads(json.dumps(k8s_one("Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/health"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def k8s_settings_env() -> dict[str, str]:
    configmap = k8s_one("ConfigMap", "streamrec-settings")
    secret = k8s_one("Secret", "streamrec-kafka")
    return {**str_env(configmap["data"]), **str_env(secret["stringData"])}


def test_kubernetes_settings_are_streamrec_settings_and_valid() -> None:
    env = k8s_settings_env()
    check_env_names(env, "ConfigMap/Secret")
    settings = settings_of(env)
    assert settings.web_host == "0.0.0.0" and settings.replication_factor == 3
    assert settings.security_protocol == "SASL_SSL" and settings.sasl_mechanism == "SCRAM-SHA-512"
    container = k8s_one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    check_env_names({e["name"]: e.get("value", "") for e in container["env"]}, "Deployment env")
    refs = {next(iter(r)): next(iter(r.values()))["name"] for r in container["envFrom"]}
    assert refs == {"configMapRef": "streamrec-settings", "secretRef": "streamrec-kafka"}
    ca_mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-ca")
    assert settings.ssl_cafile.startswith(ca_mount["mountPath"] + "/")


def test_kubernetes_worker_probes_point_at_health_on_the_worker_port() -> None:
    settings = settings_of(k8s_settings_env())
    deployment = k8s_one("Deployment", "streamrec-worker")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.web_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health", probe
        assert ports.get(get["port"], get["port"]) == settings.web_port, probe
    # The start budget covers reading a large catalogue before /health says ready.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert container["args"] == ["worker", "--web-host", "0.0.0.0"]
    assert {"requests", "limits"} <= set(container["resources"])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/var/lib/streamrec"} <= mounts  # what the read-only image writes to
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_CANONICAL_URL"]["value"] == f"http://$(POD_IP):{settings.web_port}"
    assert "replicas" not in deployment["spec"]  # KEDA owns the count
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(settings.web_port)

    labels = pod["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        doc = k8s_one(kind)
        selector = doc["spec"]["selector"].get("matchLabels", doc["spec"]["selector"])
        assert selector.items() <= labels.items(), kind
    service_port = k8s_one("Service")["spec"]["ports"][0]
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == settings.web_port
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_keda_scales_the_workers_on_the_consumer_lag_of_their_group() -> None:
    settings = settings_of(k8s_settings_env())
    names = TopicNames.of(settings)
    scaled = k8s_one("ScaledObject")
    deployment = k8s_one("Deployment")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    spec = scaled["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= settings.partitions
    triggers = spec["triggers"]
    assert {t["metadata"]["topic"] for t in triggers} == {names.event_topic(k) for k in EVENT_TOPICS}
    auth_names = {d["metadata"]["name"] for d in k8s_all("TriggerAuthentication")}
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        # The group is the Faust app id with the topic prefix in front.
        assert meta["consumerGroup"] == settings.faust_id
        assert meta["bootstrapServers"] == settings.bootstrap_servers
        assert int(meta["lagThreshold"]) > 0
        assert all(isinstance(v, str) for v in meta.values())  # KEDA wants strings
        assert trigger["authenticationRef"]["name"] in auth_names
    # Every secret key KEDA reads exists, in the Secrets defined here or the documented CA one.
    secrets = {d["metadata"]["name"]: set(d.get("stringData") or d.get("data") or {}) for d in k8s_all("Secret")}
    secrets["streamrec-kafka-ca"] = {"ca.crt"}  # created from Strimzi's cluster CA (README)
    for auth in k8s_all("TriggerAuthentication"):
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]], ref
            assert ref["parameter"] in {"sasl", "tls", "username", "password", "ca", "cert", "key"}


def test_kafka_topics_match_the_code_and_the_compose_cluster(tmp_path: Path) -> None:
    settings = settings_of(k8s_settings_env())
    topics = {d["spec"]["topicName"]: d for d in k8s_all("KafkaTopic")}
    changelog = f"{settings.faust_id}-user-state-changelog"
    assert set(topics) == set(TopicNames.of(settings).all()) | {changelog}
    compose_init = str_env(load_compose()["services"]["topic-init"]["environment"])
    created = {t["topic"]: t for t in run_topic_script(tmp_path, compose_init)}
    for name, doc in topics.items():
        spec = doc["spec"]
        assert doc["metadata"]["labels"]["strimzi.io/cluster"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])  # DNS-1123
        single = name[len(settings.topic_prefix):] in SINGLE_PARTITION
        assert spec["partitions"] == (1 if single else settings.partitions), name
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2, name
        compacted = name == changelog or name[len(settings.topic_prefix):] in COMPACTED
        assert spec["config"]["cleanup.policy"] == ("compact" if compacted else "delete"), name
        if name != changelog:  # the same topic, configured alike, in both deployments
            assert {k: str(v) for k, v in spec["config"].items()} == created[name]["config"], name


def test_kafka_user_may_use_every_topic_and_the_group() -> None:
    settings = settings_of(k8s_settings_env())
    user = k8s_one("KafkaUser")
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert user["metadata"]["name"] == settings.sasl_username
    acls = user["spec"]["authorization"]["acls"]

    def allowed(kind: str, name: str, operation: str) -> bool:
        for acl in acls:
            res = acl["resource"]
            matches = name == res["name"] if res.get("patternType", "literal") == "literal" \
                else name.startswith(res["name"])
            if res["type"] == kind and matches and operation in acl["operations"]:
                return True
        return False

    for topic in TopicNames.of(settings).all():
        assert allowed("topic", topic, "Write") and allowed("topic", topic, "Describe"), topic
    for topic in [*TopicNames.of(settings).all(), f"{settings.faust_id}-user-state-changelog"]:
        if not topic.endswith("audit"):
            assert allowed("topic", topic, "Read"), topic
    assert allowed("topic", f"{settings.faust_id}-__assignor-__leader", "Create")
    assert allowed("group", settings.faust_id, "Read")


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = k8s_one("Kustomization")
    expected = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.yaml"}
    assert set(kustomization["resources"]) == expected
    (image,) = kustomization["images"]
    container = k8s_one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].split(":")[0] == image["name"]
