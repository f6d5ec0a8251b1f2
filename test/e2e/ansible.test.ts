// Ansible's amazon.aws collection (PyPI `ansible`) against the test cloud, as a
// user's playbook drives it: ec2_tag, ec2_instance_info with filters,
// ec2_instance changing an attribute of an existing instance and terminating
// it, ec2_security_group creating a group with rules (it asks STS who it is first).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aws, stackUp, imageId, waitForState, closeDb, run, endpoint, region, adminCreds } from './helpers';

const skip = stackUp ? false : 'the test cloud is not up (run through npm test)';
after(closeDb);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'euca-ansible-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs one playbook (YAML text) on localhost; returns the JSON callback's task results. */
async function playbook(name: string, yaml: string): Promise<any> {
  const file = path.join(dir, `${name}.yml`);
  fs.writeFileSync(file, yaml);
  try {
    const { stdout } = await run('ansible-playbook', ['-i', 'localhost,', '-c', 'local', file], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: adminCreds.accessKeyId, AWS_SECRET_ACCESS_KEY: adminCreds.secretAccessKey, AWS_REGION: region,
        AWS_ENDPOINT_URL: endpoint, ANSIBLE_STDOUT_CALLBACK: 'json', ANSIBLE_CALLBACKS_ENABLED: 'json',
        ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false', ANSIBLE_PYTHON_INTERPRETER: 'python3',
        ANSIBLE_HOME: path.join(dir, 'home'),
      },
      maxBuffer: 32 << 20, timeout: 10 * 60_000,
    });
    return JSON.parse(stdout);
  } catch (e: any) {
    let detail = String(e.stdout ?? e.message);
    try {
      const j = JSON.parse(e.stdout);
      const failed = j.plays.flatMap((p: any) => p.tasks).filter((t: any) => t.hosts.localhost?.failed);
      detail = JSON.stringify(failed.map((t: any) => ({ task: t.task.name, msg: t.hosts.localhost.msg, error: t.hosts.localhost.error ?? t.hosts.localhost.exception })), null, 1);
    } catch { /* not JSON */ }
    throw new Error(`ansible-playbook ${name} failed: ${detail.slice(0, 4000)}`);
  }
}

/** The result of the task named `name` in a playbook run. */
function task(out: any, name: string): any {
  const t = out.plays.flatMap((p: any) => p.tasks).find((x: any) => x.task.name === name);
  assert.ok(t, `task ${name} ran`);
  return t.hosts.localhost;
}

const header = `- hosts: localhost
  gather_facts: false
  module_defaults:
    group/amazon.aws.aws:
      endpoint_url: "${endpoint}"
      region: "${region}"
  tasks:
`;

let instanceId: string;
before(async () => {
  if (skip) return;
  const out = await aws(['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't1.micro', '--count', '1']);
  instanceId = out.Instances[0].InstanceId;
  await waitForState([instanceId], ['running']);
});
after(async () => {
  if (skip || !instanceId) return;
  await aws(['ec2', 'modify-instance-attribute', '--instance-id', instanceId, '--no-disable-api-termination']).catch(() => undefined);
  await aws(['ec2', 'terminate-instances', '--instance-ids', instanceId]).catch(() => undefined);
});

test('ec2_tag and ec2_instance_info with filters', { skip, timeout: 10 * 60_000 }, async () => {
  const tag = `web-${crypto.randomBytes(3).toString('hex')}`;
  const out = await playbook('tags', header + `
    - name: tag
      amazon.aws.ec2_tag:
        resource: ${instanceId}
        state: present
        tags: { Name: ${tag}, env: ansible }
    - name: tag again
      amazon.aws.ec2_tag:
        resource: ${instanceId}
        state: present
        tags: { Name: ${tag}, env: ansible }
    - name: list tags
      amazon.aws.ec2_tag_info:
        resource: ${instanceId}
    - name: find by tag
      amazon.aws.ec2_instance_info:
        filters:
          "tag:Name": "${tag.slice(0, 4)}*"
          instance-state-name: running
    - name: find by id and type
      amazon.aws.ec2_instance_info:
        filters: { instance-id: ${instanceId}, instance-type: t1.micro }
    - name: find nothing
      amazon.aws.ec2_instance_info:
        filters: { "tag:Name": "no-such-${tag}" }
    - name: untag env
      amazon.aws.ec2_tag:
        resource: ${instanceId}
        state: absent
        tags: { env: ansible }
`);
  assert.equal(task(out, 'tag').changed, true);
  assert.equal(task(out, 'tag again').changed, false, 'ec2_tag is idempotent');
  assert.deepEqual(task(out, 'list tags').tags, { Name: tag, env: 'ansible' });
  const found = task(out, 'find by tag').instances;
  assert.deepEqual(found.map((i: any) => i.instance_id), [instanceId]);
  assert.equal(found[0].state.name, 'running');
  assert.ok(found[0].private_dns_name, 'private DNS name shown');
  assert.equal(task(out, 'find by id and type').instances.length, 1);
  assert.equal(task(out, 'find nothing').instances.length, 0);
  assert.equal(task(out, 'untag env').changed, true);
  const left = await aws(['ec2', 'describe-tags', '--filters', `Name=resource-id,Values=${instanceId}`]);
  assert.deepEqual(left.Tags.map((t: any) => t.Key), ['Name']);
});

test('ec2_instance changes termination protection of an existing instance, then terminates it', { skip, timeout: 10 * 60_000 }, async () => {
  const out = await playbook('instance', header + `
    - name: protect
      amazon.aws.ec2_instance:
        instance_ids: [${instanceId}]
        termination_protection: true
        state: running
    - name: protect again
      amazon.aws.ec2_instance:
        instance_ids: [${instanceId}]
        termination_protection: true
        state: running
    - name: terminate while protected
      amazon.aws.ec2_instance:
        instance_ids: [${instanceId}]
        state: terminated
      ignore_errors: true
    - name: unprotect
      amazon.aws.ec2_instance:
        instance_ids: [${instanceId}]
        termination_protection: false
        state: running
    - name: terminate
      amazon.aws.ec2_instance:
        instance_ids: [${instanceId}]
        state: terminated
        wait: true
`);
  assert.equal(task(out, 'protect').changed, true);
  assert.equal(task(out, 'protect again').changed, false);
  const refused = task(out, 'terminate while protected');
  assert.equal(refused.failed, true);
  assert.match(JSON.stringify(refused), /OperationNotPermitted/);
  assert.equal(task(out, 'unprotect').changed, true);
  assert.equal(task(out, 'terminate').changed, true);
  const [inst] = await waitForState([instanceId], ['terminated']);
  assert.equal(inst.State?.Name, 'terminated');
});

test('ec2_security_group creates a group with rules (after asking STS who it is)', { skip, timeout: 10 * 60_000 }, async () => {
  const name = `ansible-${crypto.randomBytes(3).toString('hex')}`;
  const out = await playbook('group', header + `
    - name: group
      amazon.aws.ec2_security_group:
        name: ${name}
        description: made by ansible
        rules:
          - { proto: tcp, ports: [22, 80], cidr_ip: 10.0.0.0/8 }
          - { proto: icmp, from_port: -1, to_port: -1, cidr_ip: 0.0.0.0/0 }
        tags: { owner: ansible }
    - name: group again
      amazon.aws.ec2_security_group:
        name: ${name}
        description: made by ansible
        rules:
          - { proto: tcp, ports: [22, 80], cidr_ip: 10.0.0.0/8 }
          - { proto: icmp, from_port: -1, to_port: -1, cidr_ip: 0.0.0.0/0 }
        tags: { owner: ansible }
    - name: delete group
      amazon.aws.ec2_security_group:
        name: ${name}
        state: absent
`);
  const made = task(out, 'group');
  assert.equal(made.changed, true);
  assert.equal(made.group_name, name);
  const perms = made.ip_permissions.map((p: any) => `${p.ip_protocol}:${p.from_port}-${p.to_port}:${p.ip_ranges.map((r: any) => r.cidr_ip)}`).sort();
  assert.deepEqual(perms, ['icmp:-1--1:0.0.0.0/0', 'tcp:22-22:10.0.0.0/8', 'tcp:80-80:10.0.0.0/8']);
  assert.deepEqual(made.tags, { owner: 'ansible' });
  assert.equal(task(out, 'group again').changed, false, 'ec2_security_group is idempotent');
  assert.equal(task(out, 'delete group').changed, true);
  const err = await aws(['ec2', 'describe-security-groups', '--group-names', name]).catch((e) => String(e.stderr));
  assert.match(String(err), /InvalidGroup\.NotFound/);
});
