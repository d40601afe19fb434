"""Static checks of the Bicep under infra/: it parses, and its parsed structure keeps the deployment's promises.

Those promises: keys and local auth off, host storage through the managed identity, app settings that match
what the code reads, the credentials key in a Key Vault with RBAC only (read by the app through a Key Vault
reference, never in the template), and outputs wired to the right values.

There is no Bicep CLI on these machines (no package ships it), so nothing here compiles the templates or checks
types the way `bicep build` does. Two independent parsers check the syntax: pycep-parser (whose JSON tree the
assertions walk) and tree-sitter-bicep. A few symbol checks that `bicep build` would make (module files,
parameters and outputs exist) are done here by hand.

Reading pycep's tree: an identifier and a string literal are both plain ``str`` (``name: foo`` and
``name: 'foo'`` look the same), a chain ``a.b.c`` is nested ``property_accessor`` operators, and interpolated
strings are kept as text (``'https://${site.properties.defaultHostName}'``). The helpers below turn these into
dotted names and check them against the file's declared symbols where the difference matters.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tree_sitter_bicep
from lark.exceptions import UnexpectedInput
from pycep import BicepParser
from tree_sitter import Language, Parser

from feed_core.settings import SETTINGS, Settings
from feed_core.storage.azure import physical_table_name
from feed_core.storage.layout import ALL_TABLES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

#: Settings the code declares (feed_core.settings.SETTINGS) that the Bicep deliberately does not set.
#: A new setting goes into infra/app/function.bicep unless it belongs in one of these two lists.
MUST_NOT_BE_SET_IN_AZURE: dict[str, str] = {
    "FEED_DATA_DIR": "the embedded store only; Azure uses Table + Blob storage",
    "FEED_STORAGE_CONNECTION_STRING": "connection strings carry account keys; the account has keys off",
    "FEED_ADMIN_TOKEN": "a secret: never a template parameter; set after deployment (infra/README.md)",
}
DEFAULT_IS_RIGHT_IN_AZURE: dict[str, str] = {
    "FEED_ADMIN_USER": "'admin', the user infra/README.md mints the first token for",
    "FEED_STORAGE_PROXY": "none: the app reaches its storage account directly",
    "FEED_SAS_TTL_SECONDS": "tuning knob",
    "FEED_DOWNLOAD_REDIRECT_MIN_BYTES": "1 MiB: smaller files cost less sent by the worker than a second round trip",
    "FEED_BLOB_CACHE_BYTES": "tuning knob (64 MiB per worker, within the instance memory)",
    "FEED_PUBLIC_URL": "taken from each request (Functions passes the public https URL); set it for a custom domain",
    "FEED_TRUSTED_PROXIES": "none: the Functions host passes the public URL; no forwarded header is believed",
    "FEED_MAX_UPLOAD_BYTES": "100 MiB, the Functions HTTP request size limit in any case",
    "FEED_MAVEN_SNAPSHOT_BUILDS_KEPT": "10 builds per snapshot version, as a default hosted repository keeps",
    "FEED_BODY_READ_TIMEOUT_SECONDS": "tuning knob; the Functions host buffers the body before the app sees it",
    "FEED_PAGE_CACHE_MAX_BYTES": "tuning knob (64 MiB per worker)",
    "FEED_CACHE_SECONDS": "tuning knob",
    "FEED_UI_SESSION_IDLE_MINUTES": "security knob (60 minutes)",
    "FEED_UI_SESSION_MAX_HOURS": "security knob (12 hours)",
    "FEED_READ_FRESHNESS_SECONDS": "tuning knob (2 s: how long another worker's writes may take to show)",
    "FEED_UPSTREAM_METADATA_TTL_SECONDS": "tuning knob",
    "FEED_UPSTREAM_REFRESH_MIN_SECONDS": "tuning knob",
    "FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS": "tuning knob",
    "FEED_UPSTREAM_TIMEOUT_SECONDS": "tuning knob",
    "FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS": "tuning knob",
    "FEED_UPSTREAM_MAX_DOCUMENT_BYTES": "tuning knob (64 MiB)",
    "FEED_UPSTREAM_ALLOWED_NETWORKS": "none: in Azure, upstreams are public registries; an intranet is opted into",
    "FEED_UPSTREAM_CA_BUNDLE": "none: the system trust store is right in Azure (no TLS-inspecting proxy)",
    "FEED_REFRESH_BUDGET_SECONDS": "240 s: inside host.json's functionTimeout and the refresh schedule's interval",
    "FEED_LOG_LEVEL": "INFO; Application Insights sampling (host.json) bounds the volume",
    "FEED_GC_GRACE_HOURS": "24 h: far above the longest publish, which host.json's functionTimeout bounds",
    "FEED_DELETED_FEED_RETENTION_DAYS": "30 days, as long as Azure Artifacts keeps deleted feeds",
    "FEED_RECYCLE_BIN_DAYS": "30 days, as long as Azure Artifacts keeps deleted package versions",
    "FEED_USAGE_MAX_AGE_SECONDS": "tuning knob (60 s: how often one worker scans a feed for GET …/usage at most)",
}

#: Built-in role definition ids the templates may use, and their names.
ROLE_NAMES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
}
BLOB_DATA_ROLES = {"b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"}
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
FUNCTION_APP = "Microsoft.Web/sites"
APP_INSIGHTS = "Microsoft.Insights/components"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
KEY_VAULT = "Microsoft.KeyVault/vaults"
TABLE_SERVICE = "Microsoft.Storage/storageAccounts/tableServices"
TABLE = "Microsoft.Storage/storageAccounts/tableServices/tables"

_TREE_SITTER = Parser(Language(tree_sitter_bicep.language()))


# ---------------------------------------------------------------------------------------------------------------
# Helpers over pycep's tree
# ---------------------------------------------------------------------------------------------------------------


@functools.cache
def parsed(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = BicepParser(add_line_numbers=True).parse(file_path=path)
    return result


def tree_sitter_errors(source: bytes) -> list[tuple[int, int]]:
    """(line, column) of every ERROR or MISSING node, 1-based."""
    errors = []
    stack = [_TREE_SITTER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            errors.append((node.start_point[0] + 1, node.start_point[1] + 1))
        stack.extend(node.children)
    return sorted(errors)


def dotted(node: Any) -> str | None:
    """``a.b.c`` for an identifier or a chain of property accessors; None for anything else."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        operands = node["operator"]["operands"]
        left, right = dotted(operands["operand_1"]), dotted(operands["operand_2"])
        if left is not None and right is not None:
            return f"{left}.{right}"
    return None


def template_parts(value: str) -> list[str]:
    """An interpolated string split into literal text and ``${...}`` holes."""
    return [part for part in re.split(r"(\$\{[^}]*\})", value) if part]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The ``{...}`` of a resource, looking through a ``[for ...]`` loop or an ``if (...)`` condition."""
    config: dict[str, Any] = resource["config"]
    if "loop_type" in config or "condition" in config:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def resources(path: Path, type_: str, *, existing: bool = False) -> dict[str, dict[str, Any]]:
    return {
        symbol: resource
        for symbol, resource in parsed(path).get("resources", {}).items()
        if resource["type"] == type_ and resource["existing"] == existing
    }


def only(items: dict[str, Any]) -> tuple[str, Any]:
    assert len(items) == 1, f"expected exactly one, found {sorted(items)}"
    return next(iter(items.items()))


def resource_type(path: Path, symbol: str) -> str | None:
    resource = parsed(path).get("resources", {}).get(symbol)
    return None if resource is None else str(resource["type"])


def refers_to(path: Path, node: Any, type_: str, suffix: str) -> bool:
    """Whether ``node`` is ``<symbol>.<suffix>`` for a resource ``symbol`` of ``type_`` declared in ``path``."""
    name = dotted(node)
    if name is None or not name.endswith(f".{suffix}"):
        return False
    return resource_type(path, name[: -len(suffix) - 1]) == type_


def module_path(path: Path, symbol: str) -> Path:
    return path.parent / parsed(path)["modules"][symbol]["detail"]["path"]


def resolve(path: Path, node: Any) -> tuple[Path, Any]:
    """Follow ``module.outputs.name`` into the module until the expression is no module output."""
    name = dotted(node)
    match = re.fullmatch(r"(\w+)\.outputs\.(\w+)", name or "")
    if match and match.group(1) in parsed(path).get("modules", {}):
        module = module_path(path, match.group(1))
        return resolve(module, parsed(module)["outputs"][match.group(2)]["value"])
    return path, node


def module_param(symbol: str, param: str) -> Any:
    """The value main.bicep passes to a module parameter."""
    return parsed(MAIN)["modules"][symbol]["config"]["params"][param]


def module_for(file_name: str) -> str:
    """Symbol of the main.bicep module that deploys ``app/<file_name>``."""
    symbols = [s for s in parsed(MAIN)["modules"] if module_path(MAIN, s).name == file_name]
    assert len(symbols) == 1, f"main.bicep deploys {file_name} {len(symbols)} times"
    return symbols[0]


def function_bicep() -> Path:
    return module_path(MAIN, module_for("function.bicep"))


def app_settings() -> dict[str, Any]:
    configs = resources(function_bicep(), "Microsoft.Web/sites/config")
    settings = [body(r)["properties"] for r in configs.values() if body(r)["name"] == "appsettings"]
    assert len(settings) == 1, "function.bicep defines its app settings in exactly one resource"
    result: dict[str, Any] = settings[0]
    return result


def wired_from_main(module_file: str, module_param_name: str, expected_type: str, suffix: str) -> bool:
    """Whether main.bicep passes ``module_param_name`` a value that resolves to ``<resource>.<suffix>``."""
    path, node = resolve(MAIN, module_param(module_for(module_file), module_param_name))
    return refers_to(path, node, expected_type, suffix)


# ---------------------------------------------------------------------------------------------------------------
# Syntax
# ---------------------------------------------------------------------------------------------------------------


def test_the_expected_files_exist() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert {"main.bicep", "app/identity.bicep", "app/storage.bicep", "app/monitoring.bicep"} <= names
    assert {"app/function.bicep", "app/rbac.bicep", "app/keyvault.bicep"} <= names
    assert (INFRA / "abbreviations.json").is_file() and PARAMETERS.is_file()
    assert (ROOT / "azure.yaml").is_file()


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_parses_with_pycep(path: Path) -> None:
    tree = parsed(path)
    assert tree.get("resources") or tree.get("modules")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_parses_with_tree_sitter(path: Path) -> None:
    assert tree_sitter_errors(path.read_bytes()) == []


def test_a_removed_brace_fails_both_parsers(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / "app" / "function.bicep"
    source = target.read_text()
    BicepParser(add_line_numbers=True).parse(file_path=target)  # the intact copy parses
    start = source.index("siteConfig: {")
    close = source.index("}", start)  # the brace that closes siteConfig
    broken = source[:close] + source[close + 1 :]
    target.write_text(broken)

    with pytest.raises(UnexpectedInput):
        BicepParser(add_line_numbers=True).parse(file_path=target)
    assert tree_sitter_errors(broken.encode())


def test_resource_api_versions_are_pinned_and_stable() -> None:
    for path in BICEP_FILES:
        for symbol, resource in parsed(path).get("resources", {}).items():
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", resource["api_version"]), f"{path.name}: {symbol}"


def test_modules_exist_and_their_parameters_and_outputs_match() -> None:
    """What `bicep build` would check about modules: files, parameter names, required parameters, outputs."""
    main = parsed(MAIN)
    for symbol, module in main["modules"].items():
        path = module_path(MAIN, symbol)
        assert path.is_file(), symbol
        declared = parsed(path).get("parameters", {})
        passed = set(module["config"]["params"])
        assert passed <= set(declared), f"{symbol}: unknown parameters {passed - set(declared)}"
        required = {name for name, p in declared.items() if p["default"] is None}
        assert required <= passed, f"{symbol}: missing parameters {required - passed}"

    references: set[tuple[str, str]] = set()
    for node in walk(main):
        names = [dotted(node)] if isinstance(node, dict) else []
        if isinstance(node, str):
            names = [node] + [part[2:-1] for part in template_parts(node) if part.startswith("${")]
        for name in names:
            match = re.fullmatch(r"(\w+)\.outputs\.(\w+)", name or "")
            if match:
                references.add((match.group(1), match.group(2)))
    assert references, "main.bicep uses module outputs"
    for symbol, output in references:
        assert symbol in main["modules"], symbol
        assert output in parsed(module_path(MAIN, symbol)).get("outputs", {}), f"{symbol}.outputs.{output}"


# ---------------------------------------------------------------------------------------------------------------
# Storage, monitoring, function app
# ---------------------------------------------------------------------------------------------------------------


def test_main_targets_the_subscription_and_creates_the_resource_group() -> None:
    assert parsed(MAIN)["globals"]["scope"]["value"] == "subscription"
    only(resources(MAIN, "Microsoft.Resources/resourceGroups"))
    for name in ("environmentName", "location", "organization", "publicSources", "principalId"):
        assert name in parsed(MAIN)["parameters"]
    for name in ("refreshSchedule", "healthSchedule"):
        assert name in parsed(MAIN)["parameters"]


def test_one_storage_account_with_keys_and_public_access_off() -> None:
    accounts = {
        (path.name, symbol): resource
        for path in BICEP_FILES
        for symbol, resource in resources(path, STORAGE_ACCOUNT).items()
    }
    _, account = only(accounts)
    assert account["config"]["kind"] == "StorageV2"
    props = body(account)["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True


def test_containers_for_content_and_deployment_and_a_table_service() -> None:
    storage = module_path(MAIN, module_for("storage.bicep"))
    _, containers = only(resources(storage, "Microsoft.Storage/storageAccounts/blobServices/containers"))
    names = containers["config"]["loop_type"]["detail"]["array_name"]
    assert set(names) == {"contentContainerName", "deploymentContainerName"}
    assert body(containers)["properties"]["publicAccess"] == "None"
    only(resources(storage, "Microsoft.Storage/storageAccounts/tableServices"))

    # The content container is the one the app reads from FEED_BLOB_CONTAINER, with the code's default name.
    content = parsed(MAIN)["variables"]["contentContainerName"]["value"]
    assert content == SETTINGS["FEED_BLOB_CONTAINER"][0]
    assert module_param(module_for("storage.bicep"), "contentContainerName") == "contentContainerName"
    assert module_param(module_for("function.bicep"), "contentContainerName") == "contentContainerName"
    assert app_settings()["FEED_BLOB_CONTAINER"] == "contentContainerName"


def test_the_deployment_creates_every_table_the_app_uses_with_the_apps_prefix() -> None:
    """The app does not create tables in Azure, so storage.bicep must create exactly the ones it opens: each
    logical name in ALL_TABLES under the name the Azure backend derives (physical_table_name) from the prefix
    that function.bicep sets as FEED_TABLE_PREFIX."""
    storage = module_path(MAIN, module_for("storage.bicep"))
    _, tables = only(resources(storage, TABLE))
    loop = tables["config"]["loop_type"]["detail"]
    logical = parsed(storage)["variables"][loop["array_name"]]["value"]
    config = body(tables)
    assert template_parts(config["name"]) == ["${tablePrefix}", "${" + loop["item_name"] + "}"]
    assert resource_type(storage, config["parent"]) == TABLE_SERVICE
    assert "tablePrefix" in parsed(storage)["parameters"]

    # One prefix, held by main.bicep, reaches both the tables and the app setting.
    prefix_variable = module_param(module_for("storage.bicep"), "tablePrefix")
    assert module_param(module_for("function.bicep"), "tablePrefix") == prefix_variable
    assert app_settings()["FEED_TABLE_PREFIX"] == "tablePrefix"
    assert "tablePrefix" in parsed(function_bicep())["parameters"]
    prefix = parsed(MAIN)["variables"][prefix_variable]["value"]

    deployed = [prefix + table for table in logical]  # what Bicep's '${tablePrefix}${table}' makes
    opened = [physical_table_name(prefix, table) for table in ALL_TABLES]
    assert deployed == opened, f"storage.bicep creates {deployed}, the app opens {opened}"

    # With the tables and the container made here, the app in Azure must not try to create them itself.
    if "FEED_STORAGE_CREATE" in SETTINGS:
        assert app_settings()["FEED_STORAGE_CREATE"] == "false"


def test_application_insights_has_local_auth_disabled() -> None:
    monitoring = module_path(MAIN, module_for("monitoring.bicep"))
    _, component = only(resources(monitoring, APP_INSIGHTS))
    props = body(component)["properties"]
    assert props["DisableLocalAuth"] is True
    assert refers_to(monitoring, props["WorkspaceResourceId"], "Microsoft.OperationalInsights/workspaces", "id")


def test_function_app_is_flex_consumption_python_and_hardened() -> None:
    path = function_bicep()
    plan_symbol, plan = only(resources(path, "Microsoft.Web/serverfarms"))
    assert body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}

    _, site = only(resources(path, FUNCTION_APP))
    config = body(site)
    assert "functionapp" in config["kind"]
    props = config["properties"]
    assert dotted(props["serverFarmId"]) == f"{plan_symbol}.id"
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    # FTP is off through the ftp publishing policy (below); Flex Consumption refuses siteConfig.ftpsState.
    assert "ftpsState" not in props["siteConfig"]

    app_config = props["functionAppConfig"]
    assert app_config["runtime"] == {"name": "python", "version": "3.11"}
    assert app_config["scaleAndConcurrency"] == {
        "maximumInstanceCount": "maximumInstanceCount",
        "instanceMemoryMB": "instanceMemoryMB",
    }
    storage = app_config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    # ... and identityId is the identity's resource id, which the app is assigned.
    assert config["identity"]["type"] == "UserAssigned"
    assert list(config["identity"]["userAssignedIdentities"]) == ["'${identityId}'"]
    assert wired_from_main("function.bicep", "identityId", IDENTITY, "id")


def decorator(param: dict[str, Any], kind: str) -> Any:
    (found,) = [d["argument"] for d in param["decorators"] if d["type"] == kind]
    return found


def test_scale_parameters_allow_only_what_the_pinned_api_version_accepts() -> None:
    """Flex Consumption scales to at most 40-1000 instances. Microsoft's page lists 512, 2048 and 4096 MB
    instances, but Microsoft.Web/sites@2024-04-01 refuses 512 (Azure/azure-rest-api-specs issue 40898)."""
    path = function_bicep()
    params = parsed(path)["parameters"]
    memory, count = params["instanceMemoryMB"], params["maximumInstanceCount"]
    assert decorator(memory, "allowed") == [2048, 4096]
    assert memory["default"] == 2048
    assert "2048 or 4096" in decorator(memory, "description")
    assert (decorator(count, "min_value"), decorator(count, "max_value")) == (40, 1000)
    assert count["default"] == 40
    _, site = only(resources(path, FUNCTION_APP))
    assert resource_type(path, "functionApp") == FUNCTION_APP and site["api_version"] == "2024-04-01"


def test_basic_auth_publishing_is_off_for_ftp_and_scm() -> None:
    path = function_bicep()
    site, _ = only(resources(path, FUNCTION_APP))
    policies = [body(r) for r in resources(path, "Microsoft.Web/sites/basicPublishingCredentialsPolicies").values()]
    assert sorted(p["name"] for p in policies) == ["ftp", "scm"]
    for policy in policies:
        assert policy["parent"] == site
        assert policy["properties"] == {"allow": False}


# ---------------------------------------------------------------------------------------------------------------
# Identity-based connections only
# ---------------------------------------------------------------------------------------------------------------


def test_host_storage_is_identity_based() -> None:
    path, settings = function_bicep(), app_settings()
    host = {k: v for k, v in settings.items() if k.startswith("AzureWebJobsStorage")}
    assert "AzureWebJobsStorage" not in host, "a plain AzureWebJobsStorage setting is a connection string"
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    assert host["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("blob", "table"):
        uri = host[f"AzureWebJobsStorage__{service}ServiceUri"]
        assert refers_to(path, uri, STORAGE_ACCOUNT, f"properties.primaryEndpoints.{service}"), service
    allowed = {"credential", "clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri"}
    assert {k.split("__", 1)[1] for k in host} <= allowed
    # identityClientId is the client id (not the principal id) of the identity the app runs as.
    assert wired_from_main("function.bicep", "identityClientId", IDENTITY, "properties.clientId")


def test_telemetry_authenticates_with_the_identity() -> None:
    path, settings = function_bicep(), app_settings()
    assert refers_to(
        path, settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], APP_INSIGHTS, "properties.ConnectionString"
    )
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_no_keys_or_storage_connection_strings_anywhere() -> None:
    forbidden = ("accountkey", "listkeys", "defaultendpointsprotocol", "usedevelopmentstorage", "sharedaccesskey")
    files = [p for p in INFRA.rglob("*") if p.is_file()] + [ROOT / "azure.yaml"]
    for path in files:
        text = path.read_text().lower()
        for word in forbidden:
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word}"
    for path in BICEP_FILES:
        for node in walk(parsed(path)):
            if isinstance(node, dict) and "function" in node:
                assert node["function"]["type"] != "list_func", path.name
            if isinstance(node, dict) and node.get("operator", {}).get("type") == "function_accessor":
                assert not node["operator"]["operands"]["func_name"].lower().startswith("list"), path.name
    connection_strings = [k for k in app_settings() if "CONNECTION_STRING" in k.upper()]
    assert connection_strings == ["APPLICATIONINSIGHTS_CONNECTION_STRING"]


# ---------------------------------------------------------------------------------------------------------------
# Role assignments
# ---------------------------------------------------------------------------------------------------------------


def rbac_bicep() -> Path:
    return module_path(MAIN, module_for("rbac.bicep"))


def storage_role_ids() -> list[str]:
    roles: list[str] = parsed(rbac_bicep())["variables"]["storageDataRoleIds"]["value"]
    return roles


def test_the_storage_role_list_grants_blob_and_table_data_and_names_each_role() -> None:
    roles = storage_role_ids()
    assert len(set(roles)) == len(roles)
    assert set(roles) & BLOB_DATA_ROLES, "the Functions host and the app need blob data access"
    assert TABLE_DATA_CONTRIBUTOR in roles, "the feed's metadata lives in tables"
    lines = rbac_bicep().read_text().splitlines()
    for role in [*roles, parsed(rbac_bicep())["variables"]["metricsPublisherRoleId"]["value"]]:
        index = next(i for i, line in enumerate(lines) if f"'{role}'" in line)
        comments = []
        for line in reversed(lines[:index]):
            if not line.strip().startswith("//"):
                break
            comments.append(line)
        assert ROLE_NAMES[role] in " ".join(comments), f"no comment names {role} ({ROLE_NAMES[role]})"


def test_queue_uri_and_role_only_if_a_queue_backed_trigger_exists() -> None:
    """Microsoft's role table for identity-based host storage: the host and timer triggers need Storage Blob
    Data Owner only; queues serve the blob trigger and Durable Functions. The host's queue endpoint and the
    queue role come and go together, so neither is granted or configured without the other."""
    source = (ROOT / "function_app.py").read_text()
    needs_queues = any(word in source for word in ("queue_trigger", "blob_trigger", "durable"))
    assert (QUEUE_DATA_CONTRIBUTOR in storage_role_ids()) == needs_queues
    assert ("AzureWebJobsStorage__queueServiceUri" in app_settings()) == needs_queues


def storage_role_assignments() -> dict[str, dict[str, Any]]:
    """Role assignments that loop over the storage role list (directly or through a variable made from it)."""
    path = rbac_bicep()
    variables = parsed(path)["variables"]
    found = {}
    for symbol, resource in resources(path, ROLE_ASSIGNMENT).items():
        loop = resource["config"].get("loop_type")
        if loop is None:
            continue
        source = loop["detail"]["array_name"]
        derived = json.dumps(variables[source]["value"]) if isinstance(source, str) and source in variables else ""
        if source == "storageDataRoleIds" or '"storageDataRoleIds"' in derived:
            found[symbol] = resource
    return found


def test_storage_role_assignments_are_scoped_to_the_account_and_named_with_guid() -> None:
    path = rbac_bicep()
    assignments = storage_role_assignments()
    assert len(assignments) == 2, "one loop for the app's identity, one for the optional developer"
    principals = set()
    for symbol, resource in assignments.items():
        item = resource["config"]["loop_type"]["detail"]["item_name"]
        config = body(resource)
        scope = config["scope"]
        assert resource_type(path, scope) == STORAGE_ACCOUNT, symbol
        principal = config["properties"]["principalId"]
        principals.add(principal)
        guid = config["name"]["function"]
        assert guid["type"] == "guid", symbol
        assert dotted(guid["parameters"]["base_string"]) == f"{scope}.id", symbol
        assert [guid["parameters"].get(k) for k in ("extra_string_1", "extra_string_2")] == [principal, item]
        role = config["properties"]["roleDefinitionId"]["function"]
        assert role["type"] == "subscription_resource_id"
        assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        assert role["parameters"]["resource_name_1"] == item

    assert principals == {"identityPrincipalId", "developerPrincipalId"}
    # The identity's principal id (not its client id) is what main.bicep passes; the developer is main's param.
    assert wired_from_main("rbac.bicep", "identityPrincipalId", IDENTITY, "properties.principalId")
    assert module_param(module_for("rbac.bicep"), "developerPrincipalId") == "principalId"
    developer = parsed(path)["variables"]["developerStorageRoleIds"]["value"]["operator"]["operands"]
    assert developer["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "developerPrincipalId"}}
    }
    assert (developer["true_value"], developer["false_value"]) == ([], "storageDataRoleIds")


def test_the_identity_may_publish_telemetry() -> None:
    path = rbac_bicep()
    publishers = {
        symbol: body(r)
        for symbol, r in resources(path, ROLE_ASSIGNMENT).items()
        if "loop_type" not in r["config"]
        and body(r)["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        == "metricsPublisherRoleId"
    }
    _, config = only(publishers)
    assert parsed(path)["variables"]["metricsPublisherRoleId"]["value"] == MONITORING_METRICS_PUBLISHER
    assert resource_type(path, config["scope"]) == APP_INSIGHTS
    assert config["properties"]["principalId"] == "identityPrincipalId"
    assert config["name"]["function"]["type"] == "guid"


# ---------------------------------------------------------------------------------------------------------------
# The credentials key: a Key Vault reference
# ---------------------------------------------------------------------------------------------------------------


def test_one_key_vault_with_rbac_soft_delete_and_purge_protection() -> None:
    vaults = {(path.name, symbol): r for path in BICEP_FILES for symbol, r in resources(path, KEY_VAULT).items()}
    (file_name, _), vault = only(vaults)
    assert file_name == "keyvault.bicep"
    props = body(vault)["properties"]
    assert props["enableRbacAuthorization"] is True
    assert "accessPolicies" not in props, "RBAC only: access policies would bypass it"
    assert props["enableSoftDelete"] is True and props["enablePurgeProtection"] is True
    assert int(props["softDeleteRetentionInDays"]) >= 7


def test_the_template_holds_no_secret() -> None:
    """The operator puts the key into the vault (infra/README.md): no secret resource, no secure parameter."""
    for path in BICEP_FILES:
        assert not resources(path, "Microsoft.KeyVault/vaults/secrets"), path.name
        for name, parameter in parsed(path).get("parameters", {}).items():
            assert not any(d["type"] == "secure" for d in parameter["decorators"]), f"{path.name}: {name}"


def key_vault_role_assignments() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Role id -> (resource, body) of rbac.bicep's single (not looped) assignments."""
    path = rbac_bicep()
    variables = parsed(path)["variables"]
    found = {}
    for resource in resources(path, ROLE_ASSIGNMENT).values():
        if "loop_type" in resource["config"]:
            continue
        config = body(resource)
        role_variable = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        found[variables[role_variable]["value"]] = (resource, config)
    return found


def test_the_identity_may_read_the_vaults_secrets_and_the_developer_may_set_them() -> None:
    path = rbac_bicep()
    assignments = key_vault_role_assignments()
    lines = path.read_text().splitlines()
    for role, principal, principal_type in (
        (KEY_VAULT_SECRETS_USER, "identityPrincipalId", "ServicePrincipal"),
        (KEY_VAULT_SECRETS_OFFICER, "developerPrincipalId", "developerPrincipalType"),
    ):
        _, config = assignments[role]
        scope = config["scope"]
        assert resource_type(path, scope) == KEY_VAULT, role
        assert config["properties"]["principalId"] == principal
        assert config["properties"]["principalType"] == principal_type
        guid = config["name"]["function"]
        role_variable = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        assert guid["type"] == "guid" and dotted(guid["parameters"]["base_string"]) == f"{scope}.id"
        assert [guid["parameters"].get(k) for k in ("extra_string_1", "extra_string_2")] == [principal, role_variable]
        index = next(i for i, line in enumerate(lines) if f"'{role}'" in line)
        assert ROLE_NAMES[role] in " ".join(lines[index - 3 : index]), f"no comment names {ROLE_NAMES[role]}"
    # the developer's role only when azd passes a principal
    officer, _ = assignments[KEY_VAULT_SECRETS_OFFICER]
    assert "developerPrincipalId" in json.dumps(officer["config"]["condition"])
    # the vault in rbac.bicep is the one keyvault.bicep creates
    _, existing = only(resources(path, KEY_VAULT, existing=True))
    assert body(existing)["name"] == "keyVaultName"
    assert wired_from_main("rbac.bicep", "keyVaultName", KEY_VAULT, "name")


def test_the_credentials_keys_are_key_vault_references_resolved_with_the_identity() -> None:
    path, settings = function_bicep(), app_settings()
    readme = (INFRA / "README.md").read_text()
    for setting, param in (
        ("FEED_CREDENTIALS_KEY", "credentialsKeySecretName"),
        ("FEED_CREDENTIALS_OLD_KEYS", "credentialsOldKeysSecretName"),
    ):
        assert template_parts(settings[setting]) == [
            "@Microsoft.KeyVault(SecretUri=",
            "${keyVaultUri}",
            "secrets/",
            "${" + param + "}",
            "/)",
        ], setting
        assert param in parsed(path)["parameters"]
        variable = module_param(module_for("function.bicep"), param)
        secret_name = parsed(MAIN)["variables"][variable]["value"]
        assert f"--name {secret_name} " in readme, f"infra/README.md does not say how to set {secret_name}"
    assert wired_from_main("function.bicep", "keyVaultUri", KEY_VAULT, "properties.vaultUri")
    _, site = only(resources(path, FUNCTION_APP))
    assert body(site)["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert wired_from_main("function.bicep", "identityId", IDENTITY, "id")
    # the role is granted before the app's settings land (the references resolve on the first start)
    assert module_for("rbac.bicep") in parsed(MAIN)["modules"][module_for("function.bicep")]["config"]["dependsOn"]


# ---------------------------------------------------------------------------------------------------------------
# App settings against the code
# ---------------------------------------------------------------------------------------------------------------


def test_feed_settings_match_the_code_both_ways() -> None:
    in_bicep = {k for k in app_settings() if k.startswith("FEED_")}
    excluded = set(MUST_NOT_BE_SET_IN_AZURE) | set(DEFAULT_IS_RIGHT_IN_AZURE)
    assert in_bicep <= set(SETTINGS), f"Bicep sets settings the code does not read: {in_bicep - set(SETTINGS)}"
    missing = set(SETTINGS) - in_bicep - excluded
    assert not missing, f"add these to infra/app/function.bicep, or to a list in this test with a reason: {missing}"
    assert excluded <= set(SETTINGS), f"stale entries in the lists: {excluded - set(SETTINGS)}"
    assert not in_bicep & excluded, f"set in Bicep but listed as not set: {in_bicep & excluded}"
    assert not set(MUST_NOT_BE_SET_IN_AZURE) & set(DEFAULT_IS_RIGHT_IN_AZURE)


def test_the_default_refresh_budget_fits_the_function_timeout() -> None:
    """The reason FEED_REFRESH_BUDGET_SECONDS may keep its default in Azure, checked."""
    hours, minutes, seconds = json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":")
    timeout = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    assert int(SETTINGS["FEED_REFRESH_BUDGET_SECONDS"][0]) < timeout


def test_the_default_gc_grace_is_far_above_the_longest_publish() -> None:
    """The reason FEED_GC_GRACE_HOURS may keep its default in Azure: no request outlives functionTimeout."""
    hours, minutes, seconds = json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":")
    timeout = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    assert int(SETTINGS["FEED_GC_GRACE_HOURS"][0]) * 3600 >= 10 * timeout


def test_the_fixed_job_schedules_are_the_codes_defaults() -> None:
    """The gc and retention schedules are literals in function.bicep (no parameter): the code's daily defaults."""
    settings = app_settings()
    for name in ("FEED_GC_SCHEDULE", "FEED_RETENTION_SCHEDULE"):
        assert settings[name] == SETTINGS[name][0], name


def test_every_setting_a_trigger_names_is_defined() -> None:
    """A `%NAME%` in a trigger (the timer schedules) that no app setting defines stops the Functions host."""
    named = set(re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)%", (ROOT / "function_app.py").read_text()))
    assert named <= set(app_settings()), f"not set by function.bicep: {named - set(app_settings())}"


def test_feed_settings_are_wired_to_the_right_values() -> None:
    path, settings = function_bicep(), app_settings()
    assert settings["FEED_STORAGE"] == "azure"
    assert settings["FEED_DOWNLOAD_REDIRECT"] == "true"
    assert refers_to(path, settings["FEED_STORAGE_TABLE_URL"], STORAGE_ACCOUNT, "properties.primaryEndpoints.table")
    assert refers_to(path, settings["FEED_STORAGE_BLOB_URL"], STORAGE_ACCOUNT, "properties.primaryEndpoints.blob")
    assert settings["FEED_STORAGE_CLIENT_ID"] == "identityClientId"
    assert settings["FEED_TABLE_PREFIX"] == "tablePrefix"  # with storage.bicep's tables: checked above
    # Each user-facing setting comes from the function module's parameter of that name, fed by main's.
    for setting, param in {
        "FEED_ORGANIZATION": "organization",
        "FEED_PUBLIC_SOURCES": "publicSources",
        "FEED_REFRESH_SCHEDULE": "refreshSchedule",
        "FEED_HEALTH_SCHEDULE": "healthSchedule",
    }.items():
        value = settings[setting]
        if setting == "FEED_PUBLIC_SOURCES":  # empty(publicSources) ? '{}' : publicSources
            operands = value["operator"]["operands"]
            assert operands["condition"]["function"]["parameters"]["item_to_test"] == param
            assert (operands["true_value"], operands["false_value"]) == (SETTINGS[setting][0], param)
        else:
            assert value == param, setting
        assert param in parsed(path)["parameters"]
        assert module_param(module_for("function.bicep"), param) == param
        assert parsed(MAIN)["parameters"][param]["default"] == SETTINGS[setting][0], setting


def test_the_azure_configuration_passes_the_codes_validation() -> None:
    """The FEED_* values the Bicep sets, with main.bicep's defaults, make a configuration Settings accepts."""
    main = parsed(MAIN)
    function_params = parsed(function_bicep())["parameters"]

    def value_of(name: str, node: Any) -> str:
        if isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
            node = node["operator"]["operands"]["false_value"]
        if isinstance(node, str) and node not in function_params:
            return node  # a literal
        passed = module_param(module_for("function.bicep"), node) if isinstance(node, str) else None
        if isinstance(passed, str) and isinstance(main["parameters"].get(passed, {}).get("default"), str):
            return str(main["parameters"][passed]["default"])
        if isinstance(passed, str) and isinstance(main["variables"].get(passed, {}).get("value"), str):
            return str(main["variables"][passed]["value"])
        # Known only at deployment: an endpoint or the identity's client id.
        return "https://account.invalid/" if name.endswith("_URL") else "client-id-known-at-deployment"

    env = {name: value_of(name, node) for name, node in app_settings().items() if name.startswith("FEED_")}
    assert env["FEED_BLOB_CONTAINER"] == SETTINGS["FEED_BLOB_CONTAINER"][0]
    assert env["FEED_PUBLIC_SOURCES"] == SETTINGS["FEED_PUBLIC_SOURCES"][0]
    settings = Settings.from_env(env)
    assert settings.storage == "azure" and settings.download_redirect is True
    assert settings.organization == SETTINGS["FEED_ORGANIZATION"][0]


# ---------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "module_file", "resource", "suffix"),
    [
        ("AZURE_FUNCTION_APP_NAME", "function.bicep", FUNCTION_APP, "name"),
        ("STORAGE_ACCOUNT_NAME", "storage.bicep", STORAGE_ACCOUNT, "name"),
        ("FEED_STORAGE_TABLE_URL", "storage.bicep", STORAGE_ACCOUNT, "properties.primaryEndpoints.table"),
        ("FEED_STORAGE_BLOB_URL", "storage.bicep", STORAGE_ACCOUNT, "properties.primaryEndpoints.blob"),
        ("AZURE_KEY_VAULT_NAME", "keyvault.bicep", KEY_VAULT, "name"),
    ],
)
def test_outputs_are_wired_to_the_right_resource(output: str, module_file: str, resource: str, suffix: str) -> None:
    path, node = resolve(MAIN, parsed(MAIN)["outputs"][output]["value"])
    assert path.name == module_file
    assert refers_to(path, node, resource, suffix), f"{output} resolves to {dotted(node)} in {path.name}"


def test_function_app_url_and_feed_base_url_use_the_app_host_name() -> None:
    outputs = parsed(MAIN)["outputs"]
    path, url = resolve(MAIN, outputs["FUNCTION_APP_URL"]["value"])
    assert path.name == "function.bicep"
    parts = template_parts(url)
    assert parts[0] == "https://" and len(parts) == 2
    host = parts[1][2:-1]
    assert refers_to(path, host, FUNCTION_APP, "properties.defaultHostName"), host

    base = template_parts(outputs["FEED_BASE_URL"]["value"])
    assert base == ["${" + dotted(outputs["FUNCTION_APP_URL"]["value"]) + "}", "/", "${organization}"]
    assert outputs["FEED_ORGANIZATION"]["value"] == "organization"
    assert outputs["AZURE_LOCATION"]["value"] == "location"


def test_outputs_are_upper_snake_case() -> None:
    outputs = parsed(MAIN)["outputs"]
    required = {
        "AZURE_LOCATION",
        "AZURE_FUNCTION_APP_NAME",
        "FUNCTION_APP_URL",
        "FEED_BASE_URL",
        "STORAGE_ACCOUNT_NAME",
    }
    assert required <= set(outputs)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in outputs)


# ---------------------------------------------------------------------------------------------------------------
# main.parameters.json
# ---------------------------------------------------------------------------------------------------------------

_SUBSTITUTION = re.compile(r"\$\{(\w+)(?:=([^}]*))?\}")


def substitute(text: str, env: dict[str, str]) -> str:
    """azd's substitution for the two forms the file uses: ``${NAME}`` and ``${NAME=default}`` (an unset or empty
    NAME takes the default). The value is inserted as raw text, as azd does, so JSON in it must come escaped."""
    return _SUBSTITUTION.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def test_parameters_file_uses_azd_substitutions_and_declared_parameters() -> None:
    text = PARAMETERS.read_text()
    values = {name: p["value"] for name, p in json.loads(text)["parameters"].items()}
    declared = parsed(MAIN)["parameters"]
    assert set(values) <= set(declared)
    assert {n for n, p in declared.items() if p["default"] is None} <= set(values)
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["principalId"] == "${AZURE_PRINCIPAL_ID}"
    # Only the two forms substitute() understands, so the checks below see what azd would produce.
    assert re.findall(r"\$\{[^}]*\}", text) == [m.group(0) for m in _SUBSTITUTION.finditer(text)]


def test_parameters_file_holds_no_secrets() -> None:
    words = ("key", "password", "token", "secret")
    for name, parameter in json.loads(PARAMETERS.read_text())["parameters"].items():
        value = json.dumps(parameter).lower()
        assert not any(w in value or w in name.lower() for w in words), name
    for name, parameter in parsed(MAIN)["parameters"].items():
        assert not any(w in name.lower() for w in words), name
        assert not any(d["type"] == "secure" for d in parameter["decorators"]), name


def test_parameters_file_defaults_match_bicep_and_the_code() -> None:
    declared = parsed(MAIN)["parameters"]
    empty = json.loads(substitute(PARAMETERS.read_text(), {}))["parameters"]
    for param, setting in {
        "organization": "FEED_ORGANIZATION",
        "refreshSchedule": "FEED_REFRESH_SCHEDULE",
        "healthSchedule": "FEED_HEALTH_SCHEDULE",
    }.items():
        assert empty[param]["value"] == declared[param]["default"] == SETTINGS[setting][0], param
    # Unset, publicSources arrives empty, and function.bicep turns that into '{}' (checked above).
    assert empty["publicSources"]["value"] == ""


def test_public_sources_set_as_the_readme_says_reach_the_app_intact() -> None:
    """infra/README.md: `azd env set FEED_PUBLIC_SOURCES` with the JSON escaped once more (json.dumps twice)."""
    sources = {"npmjs": {"protocol": "npm", "url": "http://127.0.0.1:4873/"}}
    escaped = json.dumps(json.dumps(sources))[1:-1]
    env = {"AZURE_ENV_NAME": "dev", "AZURE_LOCATION": "westus3", "FEED_PUBLIC_SOURCES": escaped}
    value = json.loads(substitute(PARAMETERS.read_text(), env))["parameters"]["publicSources"]["value"]
    assert json.loads(value) == sources
    configured = Settings.from_env({"FEED_PUBLIC_SOURCES": value}).public_sources
    assert {name: source.model_dump() for name, source in configured.items()} == sources
    assert "json.dumps(json.dumps(" in (INFRA / "README.md").read_text()
