"""SSM documents through boto3: every operation's happy path and its AWS errors."""

import json
import os
import tempfile

import botocore.exceptions
import pytest
import yaml

from conftest import ACCOUNT, AKID, SECRET, Server

OTHER_AKID, OTHER_SECRET, OTHER_ACCOUNT = "AKIDPYTHONOTHER00001", "other-secret", "777788889999"
THIRD_AKID, THIRD_SECRET, THIRD_ACCOUNT = "AKIDPYTHONTHIRD00001", "third-secret", "123412341234"

RUNBOOK = """
schemaVersion: '0.3'
description: Wait, then say so
parameters:
  Mode:
    type: String
    allowedValues: [fast, slow]
    default: fast
mainSteps:
  - name: wait
    action: aws:sleep
    inputs:
      Duration: PT1S
"""

TWO_STEPS = {
    "schemaVersion": "2.2",
    "description": "Restart a service and show its log",
    "parameters": {
        "service": {"type": "String", "allowedValues": ["nginx", "cron"], "description": "What to restart"},
        "lines": {"type": "String", "default": "5"},
    },
    "mainSteps": [
        {"action": "aws:runShellScript", "name": "restart",
         "inputs": {"runCommand": ["echo restart {{ service }}"]}},
        {"action": "aws:runShellScript", "name": "log",
         "inputs": {"runCommand": ["echo last {{ lines }} lines"]}},
    ],
}


def code(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def accounts():
    creds = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    for akid, secret, account in [(AKID, SECRET, ACCOUNT), (OTHER_AKID, OTHER_SECRET, OTHER_ACCOUNT),
                                  (THIRD_AKID, THIRD_SECRET, THIRD_ACCOUNT)]:
        creds.write(f'[[credentials]]\naccess_key_id = "{akid}"\nsecret_access_key = "{secret}"\n'
                    f'account_id = "{account}"\n\n')
    creds.close()
    s = Server("--credentials-file", creds.name)
    yield s
    s.stop()
    os.unlink(creds.name)


def test_create_version_and_default(accounts):
    ssm = accounts.client()
    d = ssm.create_document(Name="wait-a-bit", Content=RUNBOOK, DocumentType="Automation",
                            DocumentFormat="YAML", Tags=[{"Key": "team", "Value": "ops"}])["DocumentDescription"]
    assert d["Name"] == "wait-a-bit"
    assert d["DocumentVersion"] == "1" and d["LatestVersion"] == "1" and d["DefaultVersion"] == "1"
    assert d["SchemaVersion"] == "0.3" and d["DocumentType"] == "Automation" and d["DocumentFormat"] == "YAML"
    assert d["HashType"] == "Sha256" and len(d["Hash"]) == 64
    assert d["Owner"] == ACCOUNT
    assert d["Status"] == "Creating"
    assert d["Parameters"] == [{"Name": "Mode", "Type": "String", "DefaultValue": "fast"}]
    assert d["Tags"] == [{"Key": "team", "Value": "ops"}]

    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="wait-a-bit", Content=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML")
    assert code(e)[0] == "DocumentAlreadyExists"

    # Same content again: refused; new content: version 2, the default stays 1.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.update_document(Name="wait-a-bit", Content=RUNBOOK, DocumentFormat="YAML", DocumentVersion="$LATEST")
    assert code(e)[0] == "DuplicateDocumentContent"
    v2 = ssm.update_document(Name="wait-a-bit", Content=RUNBOOK.replace("PT1S", "PT2S"), DocumentFormat="YAML",
                             VersionName="two", DocumentVersion="$LATEST")["DocumentDescription"]
    assert (v2["DocumentVersion"], v2["LatestVersion"], v2["DefaultVersion"]) == ("2", "2", "1")
    assert v2["Status"] == "Updating" and v2["VersionName"] == "two"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.update_document(Name="wait-a-bit", Content=RUNBOOK.replace("PT1S", "PT3S"), DocumentFormat="YAML",
                            DocumentVersion="1")
    assert code(e)[0] == "InvalidDocumentVersion"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.update_document(Name="wait-a-bit", Content=RUNBOOK.replace("PT1S", "PT3S"), DocumentFormat="YAML",
                            VersionName="two")
    assert code(e)[0] == "DuplicateDocumentVersionName"

    versions = ssm.list_document_versions(Name="wait-a-bit")["DocumentVersions"]
    assert [(v["DocumentVersion"], v["IsDefaultVersion"]) for v in versions] == [("1", True), ("2", False)]
    assert versions[1]["VersionName"] == "two" and versions[0]["Status"] == "Active"

    described = ssm.describe_document(Name="wait-a-bit")["Document"]
    assert described["DocumentVersion"] == "1" and described["Status"] == "Active"
    assert ssm.describe_document(Name="wait-a-bit", VersionName="two")["Document"]["DocumentVersion"] == "2"
    assert ssm.describe_document(Name="wait-a-bit", DocumentVersion="$LATEST")["Document"]["DocumentVersion"] == "2"

    got = ssm.update_document_default_version(Name="wait-a-bit", DocumentVersion="2")["Description"]
    assert got == {"Name": "wait-a-bit", "DefaultVersion": "2", "DefaultVersionName": "two"}
    assert ssm.describe_document(Name="wait-a-bit")["Document"]["DefaultVersion"] == "2"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.update_document_default_version(Name="wait-a-bit", DocumentVersion="9")
    assert code(e)[0] == "InvalidDocumentVersion"

    # The default version cannot be deleted; another one can, and its number is not reused.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.delete_document(Name="wait-a-bit", DocumentVersion="2")
    assert code(e)[0] == "InvalidDocumentOperation"
    ssm.delete_document(Name="wait-a-bit", DocumentVersion="1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.get_document(Name="wait-a-bit", DocumentVersion="1")
    assert code(e)[0] == "InvalidDocumentVersion"
    v3 = ssm.update_document(Name="wait-a-bit", Content=RUNBOOK.replace("PT1S", "PT4S"), DocumentFormat="YAML",
                             DocumentVersion="$LATEST")["DocumentDescription"]
    assert v3["DocumentVersion"] == "3"

    ssm.delete_document(Name="wait-a-bit")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.describe_document(Name="wait-a-bit")
    assert code(e) == ("InvalidDocument", "The specified document does not exist.")


def test_get_converts_between_json_and_yaml(accounts):
    ssm = accounts.client()
    ssm.create_document(Name="restart-service", Content=json.dumps(TWO_STEPS), DocumentType="Command")
    got = ssm.get_document(Name="restart-service")
    assert got["DocumentFormat"] == "JSON" and json.loads(got["Content"]) == TWO_STEPS
    assert got["DocumentType"] == "Command" and got["Status"] == "Active" and got["DocumentVersion"] == "1"
    as_yaml = ssm.get_document(Name="restart-service", DocumentFormat="YAML")
    assert as_yaml["DocumentFormat"] == "YAML" and yaml.safe_load(as_yaml["Content"]) == TWO_STEPS
    d = ssm.describe_document(Name="restart-service")["Document"]
    assert d["PlatformTypes"] == ["Linux", "MacOS"]
    assert [p["Name"] for p in d["Parameters"]] == ["service", "lines"]
    assert d["Parameters"][0] == {"Name": "service", "Type": "String", "Description": "What to restart"}
    ssm.delete_document(Name="restart-service")


@pytest.mark.parametrize("content,fmt,expected", [
    ("{\n  \"schemaVersion\": \"2.2\",\n  oops\n}", "JSON",
     ("InvalidDocumentContent", "JSON not well-formed. at Line: 3, Column: 3")),
    ("schemaVersion: '3.0'\nmainSteps: []\n", "YAML",
     ("InvalidDocumentContent", "Document schema version is invalid. Value: 3.0")),
    ("schemaVersion: '2.2'\nmainSteps:\n- {action: aws:runShellScript, name: a, inputs: {runCommand: ['{{ X }}']}}\n",
     "YAML", ("InvalidDocumentContent", 'Parameter "X" is not declared.')),
])
def test_bad_content_is_refused(accounts, content, fmt, expected):
    ssm = accounts.client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="bad-doc", Content=content, DocumentFormat=fmt)
    assert code(e) == expected
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.describe_document(Name="bad-doc")
    assert code(e)[0] == "InvalidDocument"


def test_runbook_checks_and_limits(accounts):
    ssm = accounts.client()
    one_or = RUNBOOK + """  - name: pick
    action: aws:branch
    inputs:
      Choices:
        - NextStep: wait
          Or:
            - {Variable: '{{ Mode }}', StringEquals: fast}
"""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="one-or", Content=one_or, DocumentType="Automation", DocumentFormat="YAML")
    assert code(e) == ("InvalidDocumentContent",
                       "Expect at lease two expressions for operator: Or in step: pick. Provided: 1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="wrong-schema", Content=RUNBOOK.replace("'0.3'", "'2.2'"),
                            DocumentType="Automation", DocumentFormat="YAML")
    assert code(e)[0] == "InvalidDocumentSchemaVersion"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="AWS-Mine", Content=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML")
    assert code(e)[0] == "ValidationException"
    big = RUNBOOK + "# " + "x" * (64 * 1024) + "\n"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.create_document(Name="too-big", Content=big, DocumentType="Automation", DocumentFormat="YAML")
    assert code(e)[0] == "MaxDocumentSizeExceeded"


def test_aws_documents_are_listed_and_read_only(accounts):
    ssm = accounts.client()
    shell = ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    assert shell["Owner"] == "Amazon" and shell["SchemaVersion"] == "1.2" and shell["DocumentType"] == "Command"
    assert [p["Name"] for p in shell["Parameters"]] == ["commands", "workingDirectory", "executionTimeout"]
    by_arn = ssm.get_document(Name="arn:aws:ssm:us-west-2::document/AWS-RunShellScript")
    assert json.loads(by_arn["Content"])["runtimeConfig"]["aws:runShellScript"]["properties"][0]["runCommand"] \
        == "{{ commands }}"
    amazon = ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Amazon"]}])["DocumentIdentifiers"]
    assert [d["Name"] for d in amazon] == ["AWS-RunPowerShellScript", "AWS-RunShellScript"]
    for op in (lambda: ssm.delete_document(Name="AWS-RunShellScript"),
               lambda: ssm.update_document(Name="AWS-RunShellScript", Content=json.dumps(TWO_STEPS))):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            op()
        assert code(e)[0] == "InvalidDocumentOperation"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.describe_document(Name="AWS-RunPatchBaseline")
    assert code(e)[0] == "InvalidDocument"


def test_list_filters_and_pages(accounts):
    ssm = accounts.client()
    for i in range(7):
        ssm.create_document(Name=f"lst-cmd-{i}", Content=json.dumps(TWO_STEPS).replace("5", str(i)),
                            Tags=[{"Key": "parity", "Value": "even" if i % 2 == 0 else "odd"}])
    ssm.create_document(Name="lst-auto", Content=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML")
    mine = [{"Key": "Owner", "Values": ["Self"]}]
    pages = ssm.get_paginator("list_documents").paginate(Filters=mine, PaginationConfig={"PageSize": 3})
    names = [d["Name"] for p in pages for d in p["DocumentIdentifiers"]]
    assert names == ["lst-auto"] + [f"lst-cmd-{i}" for i in range(7)]
    autos = ssm.list_documents(Filters=mine + [{"Key": "DocumentType", "Values": ["Automation"]}])
    assert [d["Name"] for d in autos["DocumentIdentifiers"]] == ["lst-auto"]
    even = ssm.list_documents(Filters=[{"Key": "tag:parity", "Values": ["even"]}])["DocumentIdentifiers"]
    assert [d["Name"] for d in even] == ["lst-cmd-0", "lst-cmd-2", "lst-cmd-4", "lst-cmd-6"]
    assert even[0]["Tags"] == [{"Key": "parity", "Value": "even"}] and even[0]["Owner"] == ACCOUNT
    prefix = ssm.list_documents(DocumentFilterList=[{"key": "Name", "value": "lst-cmd-1"}])["DocumentIdentifiers"]
    assert [d["Name"] for d in prefix] == ["lst-cmd-1"]
    everything = [d["Name"] for p in ssm.get_paginator("list_documents").paginate() for d in p["DocumentIdentifiers"]]
    assert everything[:2] == ["AWS-RunPowerShellScript", "AWS-RunShellScript"] and "lst-auto" in everything
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.list_documents(Filters=[{"Key": "Colour", "Values": ["red"]}])
    assert code(e)[0] == "InvalidFilterKey"
    ssm.add_tags_to_resource(ResourceType="Document", ResourceId="lst-auto", Tags=[{"Key": "k", "Value": "v"}])
    assert ssm.list_tags_for_resource(ResourceType="Document", ResourceId="lst-auto")["TagList"] == \
        [{"Key": "k", "Value": "v"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.add_tags_to_resource(ResourceType="Document", ResourceId="AWS-RunShellScript",
                                 Tags=[{"Key": "k", "Value": "v"}])
    assert code(e)[0] == "InvalidResourceId"


def test_sharing_with_other_accounts(accounts):
    owner = accounts.client()
    other = accounts.client(akid=OTHER_AKID, secret=OTHER_SECRET)
    third = accounts.client(akid=THIRD_AKID, secret=THIRD_SECRET)
    owner.create_document(Name="shared-runbook", Content=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML")
    arn = f"arn:aws:ssm:us-west-2:{ACCOUNT}:document/shared-runbook"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.describe_document(Name=arn)
    assert code(e)[0] == "InvalidDocument"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.describe_document(Name="shared-runbook")
    assert code(e)[0] == "InvalidDocument"

    owner.modify_document_permission(Name="shared-runbook", PermissionType="Share",
                                     AccountIdsToAdd=[OTHER_ACCOUNT])
    perm = owner.describe_document_permission(Name="shared-runbook", PermissionType="Share")
    assert perm["AccountIds"] == [OTHER_ACCOUNT]
    assert perm["AccountSharingInfoList"] == [{"AccountId": OTHER_ACCOUNT, "SharedDocumentVersion": "$DEFAULT"}]
    seen = other.describe_document(Name=arn)["Document"]
    assert seen["Owner"] == ACCOUNT and seen["Name"] == "shared-runbook"
    private = other.list_documents(Filters=[{"Key": "Owner", "Values": ["Private"]}])["DocumentIdentifiers"]
    assert [(d["Name"], d["Owner"]) for d in private] == [("shared-runbook", ACCOUNT)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        third.get_document(Name=arn)
    assert code(e)[0] == "InvalidDocument"
    # The sharer's document stays its own: the reader cannot change or delete it.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.delete_document(Name="shared-runbook")
    assert code(e)[0] == "InvalidDocument"

    owner.modify_document_permission(Name="shared-runbook", PermissionType="Share", AccountIdsToAdd=["all"])
    assert third.get_document(Name=arn)["Name"] == "shared-runbook"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        owner.delete_document(Name="shared-runbook")
    assert code(e)[0] == "InvalidDocumentOperation"
    owner.modify_document_permission(Name="shared-runbook", PermissionType="Share",
                                     AccountIdsToRemove=["all", OTHER_ACCOUNT])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.get_document(Name=arn)
    assert code(e)[0] == "InvalidDocument"
    owner.delete_document(Name="shared-runbook")
