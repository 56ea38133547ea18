use std::collections::BTreeMap;

use serde_json::json;

use crate::params::resolve;
use crate::runbook::OnFailure;
use crate::*;

const TWO_STEPS: &str = r#"
schemaVersion: "2.2"
description: Restart a service, then show its status
parameters:
  service:
    type: String
    allowedValues: [nginx, cron]
  lines:
    type: String
    default: "5"
    allowedPattern: "[0-9]+"
mainSteps:
  - action: aws:runShellScript
    name: restart
    precondition:
      StringEquals: [platformType, Linux]
    inputs:
      runCommand:
        - systemctl restart {{ service }}
  - action: aws:runShellScript
    name: status
    inputs:
      runCommand: ["journalctl -u {{service}} -n {{ lines }}"]
"#;

const RUNBOOK: &str = r#"
schemaVersion: "0.3"
parameters:
  InstanceId:
    type: String
  Mode:
    type: String
    allowedValues: [fast, slow]
    default: fast
mainSteps:
  - name: run
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{ InstanceId }}"]
      Parameters:
        commands: ["echo ok"]
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: quick
          And:
            - Variable: "{{ Mode }}"
              StringEquals: fast
            - Variable: "{{ run.Output }}"
              Contains: ok
      Default: slowly
  - name: quick
    action: aws:sleep
    isEnd: true
    inputs: {Duration: PT0S}
  - name: slowly
    action: aws:sleep
    onFailure: Continue
    inputs: {Duration: "PT{{ global:REGION }}S"}
outputs: [run.Output]
"#;

fn command(content: &str) -> Result<Document, ContentError> {
    Document::parse(content, Format::Yaml, DocumentType::Command)
}

fn automation(content: &str) -> Result<Document, ContentError> {
    Document::parse(content, Format::Yaml, DocumentType::Automation)
}

fn err(r: Result<Document, ContentError>) -> String {
    match r {
        Err(ContentError::Content(m)) => m,
        other => panic!("expected InvalidDocumentContent, got {other:?}"),
    }
}

#[test]
fn a_two_step_command_document_is_read_in_order_with_its_parameters() {
    let d = command(TWO_STEPS).expect("valid");
    assert_eq!(d.schema_version, "2.2");
    let names: Vec<&str> = d.plugins().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["restart", "status"]);
    assert_eq!(d.parameters.len(), 2);
    assert!(d.parameters[0].required());
    assert_eq!(d.parameters[1].default_text().as_deref(), Some("5"));
    assert_eq!(d.platform_types(), ["Linux", "MacOS"]);
    assert!(d.plugins()[0].applies_to("Linux"));
    assert!(!d.plugins()[0].applies_to("Windows"));
    assert!(d.plugins()[1].applies_to("Windows"));
}

#[test]
fn builtins_parse_and_are_reserved() {
    let names: Vec<&str> = builtin::all().iter().map(|b| b.name).collect();
    assert_eq!(names, ["AWS-RunPowerShellScript", "AWS-RunShellScript"]);
    let shell = builtin::get("AWS-RunShellScript").expect("served");
    assert_eq!(shell.document.schema_version, "1.2");
    assert_eq!(shell.document.plugins()[0].name, "aws:runShellScript");
    assert_eq!(shell.hash.len(), 64);
    assert!(builtin::is_reserved_name("AWS-Mine"));
    assert!(builtin::is_reserved_name("amazonThing"));
    assert!(builtin::is_reserved_name("AmznX"));
    assert!(!builtin::is_reserved_name("awesome"));
}

#[test]
fn json_and_yaml_errors_say_where() {
    let e = Document::parse("{\n  \"schemaVersion\": \"2.2\",\n  oops\n}", Format::Json, DocumentType::Command);
    assert_eq!(err(e), "JSON not well-formed. at Line: 3, Column: 3");
    let e = command("schemaVersion: '2.2'\nmainSteps: [\n");
    assert!(err(e).starts_with("YAML not well-formed. at Line: "));
}

#[test]
fn schema_versions_are_checked_against_the_type() {
    assert_eq!(err(command("schemaVersion: '3.0'\nmainSteps: []")), "Document schema version is invalid. Value: 3.0");
    match automation("schemaVersion: '2.2'\nmainSteps: []") {
        Err(ContentError::SchemaVersion(m)) => assert!(m.contains("2.2") && m.contains("Automation"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn undeclared_references_are_refused() {
    let doc = "schemaVersion: '2.2'\nmainSteps:\n- action: aws:runShellScript\n  name: a\n  inputs: {runCommand: ['echo {{ X }}']}";
    assert_eq!(err(command(doc)), "Parameter \"X\" is not declared.");
    // Parameter Store references are left for run time.
    let doc = doc.replace("{{ X }}", "{{ ssm:/app/x }}");
    assert!(command(&doc).is_ok());
}

#[test]
fn command_steps_are_checked() {
    let step = |inputs: &str| {
        format!("schemaVersion: '2.2'\nmainSteps:\n- action: aws:runShellScript\n  name: a\n  inputs: {inputs}")
    };
    assert_eq!(
        err(command(&step("{commands: [x]}"))),
        "Unknown input names provided in step a. Known=[ [runCommand, workingDirectory, timeoutSeconds] ], Provided=[ [commands] ]."
    );
    assert!(err(command(&step("{workingDirectory: /}"))).starts_with("Missing required input names in step a."));
    let dup = "schemaVersion: '2.2'\nmainSteps:\n- {action: aws:runShellScript, name: a, inputs: {runCommand: x}}\n- {action: aws:runShellScript, name: a, inputs: {runCommand: y}}";
    assert_eq!(err(command(dup)), "Step name a is used more than once.");
    let unknown = "schemaVersion: '2.2'\nmainSteps:\n- {action: aws:fly, name: a, inputs: {}}";
    assert_eq!(err(command(unknown)), "Action aws:fly in step a is not a known plugin.");
    // AWS's other plugins are accepted (they fail on the node).
    let other = "schemaVersion: '2.2'\nmainSteps:\n- {action: aws:runDocument, name: a, inputs: {documentPath: x}}";
    assert!(command(other).is_ok());
}

#[test]
fn a_runbook_is_read_with_its_flow() {
    let d = automation(RUNBOOK).expect("valid");
    let rb = d.runbook().expect("runbook");
    assert_eq!(rb.steps.len(), 4);
    assert!(rb.step("quick").expect("step").is_end);
    let slowly = rb.step("slowly").expect("step");
    assert_eq!(slowly.on_failure, OnFailure::Continue);
    assert!(!slowly.is_critical, "onFailure Continue makes a step non-critical");
    assert!(rb.step("run").expect("step").is_critical);
    assert_eq!(rb.outputs, ["run.Output"]);
}

#[test]
fn runbook_errors_use_aws_wording() {
    let one_or = RUNBOOK
        .replace("And:", "Or:")
        .replace("            - Variable: \"{{ run.Output }}\"\n              Contains: ok\n", "");
    assert_eq!(
        err(automation(&one_or)),
        "Expect at lease two expressions for operator: Or in step: choose. Provided: 1"
    );
    let bad_input = RUNBOOK.replace(
        "      DocumentName: AWS-RunShellScript\n",
        "      DocumentName: AWS-RunShellScript\n      runtimeEnvironment: x\n",
    );
    assert!(err(automation(&bad_input)).starts_with("Unknown input names provided. Known=[ [DocumentName, "));
    let no_doc = RUNBOOK.replace("      DocumentName: AWS-RunShellScript\n", "");
    assert_eq!(
        err(automation(&no_doc)),
        "Missing required input names. Required=[ [DocumentName] ], Provided =[ [InstanceIds, Parameters] ]."
    );
    let dangling = RUNBOOK.replace("Default: slowly", "Default: nowhere");
    assert_eq!(err(automation(&dangling)), "Default of step choose names step nowhere, which does not exist.");
    let unknown_step_ref = RUNBOOK.replace("{{ run.Output }}", "{{ ran.Output }}");
    assert_eq!(err(automation(&unknown_step_ref)), "Parameter \"ran.Output\" is not declared.");
}

fn given(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
}

#[test]
fn values_are_typed_checked_and_defaulted() {
    let d = command(TWO_STEPS).expect("valid");
    let v = resolve(&d.parameters, &given(&[("service", &["nginx"])])).expect("ok");
    assert_eq!(v["service"], json!("nginx"));
    assert_eq!(v["lines"], json!("5"));
    let e = resolve(&d.parameters, &given(&[("service", &["medium"])])).unwrap_err();
    assert_eq!(e.0, "Parameter \"service\" has value \"medium\" not found in [nginx, cron].");
    let e = resolve(&d.parameters, &given(&[])).unwrap_err();
    assert_eq!(e.0, "Missing required parameter: service in user inputs.");
    let e = resolve(&d.parameters, &given(&[("service", &["cron"]), ("other", &["1"])])).unwrap_err();
    assert_eq!(e.0, "Parameter \"other\" is not declared in the document.");
    let e = resolve(&d.parameters, &given(&[("service", &["cron"]), ("lines", &["x1"])])).unwrap_err();
    assert!(e.0.contains("does not match the allowed pattern"), "{}", e.0);
    let e = resolve(&d.parameters, &given(&[("service", &["cron", "nginx"])])).unwrap_err();
    assert!(e.0.contains("takes one value"), "{}", e.0);

    let shell = &builtin::get("AWS-RunShellScript").expect("served").document;
    let e = resolve(&shell.parameters, &given(&[("commands", &[])])).unwrap_err();
    assert_eq!(e.0, "Parameter \"commands\" has 0 items; at least 1 are required.");
    let e = resolve(&shell.parameters, &given(&[("commands", &["x"]), ("executionTimeout", &["172801"])])).unwrap_err();
    assert!(e.0.contains("executionTimeout"), "{}", e.0);
    let ok = resolve(&shell.parameters, &given(&[("commands", &["x"]), ("executionTimeout", &["172800"])]));
    assert!(ok.is_ok());
}

#[test]
fn typed_parameters_read_their_strings() {
    let doc = r#"
schemaVersion: "0.3"
parameters:
  Count: {type: Integer, default: 2}
  Flag: {type: Boolean, default: false}
  Tags: {type: StringMap, default: {}}
  Items: {type: MapList, default: []}
  Names: {type: StringList, default: [a], maxItems: 2}
mainSteps:
  - {name: s, action: aws:sleep, inputs: {Duration: PT0S}}
"#;
    let d = automation(doc).expect("valid");
    let v = resolve(
        &d.parameters,
        &given(&[("Count", &["7"]), ("Flag", &["TRUE"]), ("Tags", &["{\"a\":\"b\"}"]), ("Items", &["{\"k\":1}"])]),
    )
    .expect("ok");
    assert_eq!(v["Count"], json!(7));
    assert_eq!(v["Flag"], json!(true));
    assert_eq!(v["Tags"], json!({"a": "b"}));
    assert_eq!(v["Items"], json!([{"k": 1}]));
    assert_eq!(v["Names"], json!(["a"]));
    let e = resolve(&d.parameters, &given(&[("Count", &["seven"])])).unwrap_err();
    assert_eq!(e.0, "Parameter \"Count\" has value \"seven\", which is not an Integer.");
    let e = resolve(&d.parameters, &given(&[("Names", &["a", "b", "c"])])).unwrap_err();
    assert_eq!(e.0, "Parameter \"Names\" has 3 items; at most 2 are allowed.");
}

#[test]
fn yaml_and_json_render_the_same_document() {
    let d = automation(RUNBOOK).expect("valid");
    let json = render(&d.value, Format::Json);
    let back = Document::parse(&json, Format::Json, DocumentType::Automation).expect("json parses");
    assert_eq!(back.value, d.value);
    let yaml = render(&back.value, Format::Yaml);
    let again = automation(&yaml).expect("yaml parses");
    assert_eq!(again.value, d.value);
}

#[test]
fn loops_are_checked_and_their_steps_are_known() {
    let looped = |inputs: &str| {
        format!(
            "schemaVersion: '0.3'\nmainSteps:\n- name: each\n  action: aws:loop\n  inputs:\n{inputs}      Steps:\n      - {{name: inner, action: aws:sleep, inputs: {{Duration: PT0S}}}}\n- {{name: after, action: aws:sleep, inputs: {{Duration: '{{{{ inner.Nothing }}}}'}}}}\n"
        )
    };
    let d = automation(&looped("      Iterators: [a, b]\n")).expect("valid");
    let rb = d.runbook().expect("runbook");
    assert_eq!(rb.steps[0].loop_steps.len(), 1);
    assert!(rb.any_step("inner").is_some());
    assert_eq!(
        err(automation(&looped("      Iterators: [a]\n      LoopCondition: {Variable: x, StringEquals: y}\n"))),
        "Step each gives both Iterators and LoopCondition; aws:loop takes one."
    );
    assert_eq!(err(automation(&looped(""))), "Step each needs Iterators or a LoopCondition.");
    assert_eq!(
        err(automation(&looped("      Iterators: [a]\n      MaxIterations: 101\n"))),
        "MaxIterations of step each must be from 1 to 100."
    );
    let dup = looped("      Iterators: [a]\n").replace("name: after", "name: inner");
    assert_eq!(err(automation(&dup)), "Step name inner is used more than once.");
}

#[test]
fn a_runbook_that_can_only_go_round_is_refused() {
    let circle = "schemaVersion: '0.3'\nmainSteps:\n- {name: a, action: aws:sleep, inputs: {Duration: PT0S}}\n- {name: b, action: aws:sleep, nextStep: a, inputs: {Duration: PT0S}}\n";
    assert_eq!(err(automation(circle)), "Infinite loop detected: a -> b -> a");
    // A branch on the way can leave the circle: allowed.
    let with_exit = "schemaVersion: '0.3'\nmainSteps:\n- {name: a, action: aws:sleep, inputs: {Duration: PT0S}}\n- name: b\n  action: aws:branch\n  inputs: {Choices: [{NextStep: a, Variable: x, StringEquals: y}], Default: c}\n- {name: c, action: aws:sleep, inputs: {Duration: PT0S}}\n";
    assert!(automation(with_exit).is_ok());
}
