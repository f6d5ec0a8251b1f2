# boto3 against Walrus' access control: bucket policies, ACL grants, Object
# Ownership, Block Public Access, with two accounts and anonymous callers.
# Run by access.test.ts with ENDPOINT, REGION, AK1/SK1/ID1 (owner), AK2/SK2/ID2 (another account), TAG.
import os, json
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

E, R, TAG = os.environ['ENDPOINT'], os.environ['REGION'], os.environ['TAG']
A_ID, B_ID = os.environ['ID1'], os.environ['ID2']
def client(ak=None, sk=None, **cfg):
    kw = dict(endpoint_url=E, region_name=R, config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}, **cfg))
    if ak: kw.update(aws_access_key_id=ak, aws_secret_access_key=sk)
    return boto3.client('s3', **kw)
a = client(os.environ['AK1'], os.environ['SK1'])
b = client(os.environ['AK2'], os.environ['SK2'])
anon = client(signature_version=UNSIGNED)
passed = []
def ok(name): passed.append(name)

def err(fn, code, status):
    try:
        fn()
    except ClientError as e:
        got = e.response['Error']['Code']; st = e.response['ResponseMetadata']['HTTPStatusCode']
        # HEAD answers carry no body: botocore names the error by its status
        assert got == code or got == str(status), f'expected {code}, got {got} {st}: {e}'
        assert st == status, f'{code}: expected status {status}, got {st}'
        return e
    raise AssertionError(f'expected {code}, call succeeded')

def policy(*statements, bucket=None):
    return json.dumps({'Version': '2012-10-17', 'Statement': list(statements)})

# ------------------------------------------------------------------ cross-account access through a bucket policy
B1 = f'acc-pol-{TAG}'
a.create_bucket(Bucket=B1)
a.put_object(Bucket=B1, Key='doc.txt', Body=b'shared')
a.put_object(Bucket=B1, Key='secret/plan.txt', Body=b'hush')
err(lambda: b.get_object(Bucket=B1, Key='doc.txt'), 'AccessDenied', 403)
err(lambda: b.get_bucket_policy(Bucket=B1), 'AccessDenied', 403)
err(lambda: a.get_bucket_policy(Bucket=B1), 'NoSuchBucketPolicy', 404)
err(lambda: a.get_bucket_policy_status(Bucket=B1), 'NoSuchBucketPolicy', 404)
p = policy({'Sid': 'ReadForB', 'Effect': 'Allow', 'Principal': {'AWS': f'arn:aws:iam::{B_ID}:root'}, 'Action': ['s3:GetObject'], 'Resource': f'arn:aws:s3:::{B1}/*'})
a.put_bucket_policy(Bucket=B1, Policy=p)
assert json.loads(a.get_bucket_policy(Bucket=B1)['Policy']) == json.loads(p)
assert a.get_bucket_policy_status(Bucket=B1)['PolicyStatus']['IsPublic'] is False
assert b.get_object(Bucket=B1, Key='doc.txt')['Body'].read() == b'shared'
err(lambda: b.list_objects_v2(Bucket=B1), 'AccessDenied', 403)
err(lambda: b.put_object(Bucket=B1, Key='x', Body=b'x'), 'AccessDenied', 403)
err(lambda: b.get_object(Bucket=B1, Key='missing'), 'AccessDenied', 403)      # no s3:ListBucket: 403, not 404
err(lambda: anon.get_object(Bucket=B1, Key='doc.txt'), 'AccessDenied', 403)
# listing too, by the bare account id; then a missing key is a 404
a.put_bucket_policy(Bucket=B1, Policy=policy(
    {'Effect': 'Allow', 'Principal': {'AWS': [B_ID]}, 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/*'},
    {'Effect': 'Allow', 'Principal': {'AWS': B_ID}, 'Action': 's3:ListBucket', 'Resource': f'arn:aws:s3:::{B1}'}))
assert b.list_objects_v2(Bucket=B1)['KeyCount'] == 2
err(lambda: b.get_object(Bucket=B1, Key='missing'), 'NoSuchKey', 404)
# only the owner's account manages the policy: another account the policy lets in gets 405
a.put_bucket_policy(Bucket=B1, Policy=policy({'Effect': 'Allow', 'Principal': {'AWS': B_ID}, 'Action': ['s3:GetBucketPolicy', 's3:GetObject'], 'Resource': [f'arn:aws:s3:::{B1}', f'arn:aws:s3:::{B1}/*']}))
err(lambda: b.get_bucket_policy(Bucket=B1), 'MethodNotAllowed', 405)
ok('cross-account access through a bucket policy; 403 vs 404 by s3:ListBucket; policy management 405')

# ------------------------------------------------------------------ explicit deny wins
a.put_bucket_policy(Bucket=B1, Policy=policy(
    {'Sid': 'All', 'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/*'},
    {'Sid': 'NotSecrets', 'Effect': 'Deny', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/secret/*'}))
assert a.get_bucket_policy_status(Bucket=B1)['PolicyStatus']['IsPublic'] is True
assert b.get_object(Bucket=B1, Key='doc.txt')['Body'].read() == b'shared'
assert anon.get_object(Bucket=B1, Key='doc.txt')['Body'].read() == b'shared'          # anonymous, by policy
err(lambda: b.get_object(Bucket=B1, Key='secret/plan.txt'), 'AccessDenied', 403)
err(lambda: anon.get_object(Bucket=B1, Key='secret/plan.txt'), 'AccessDenied', 403)
err(lambda: a.get_object(Bucket=B1, Key='secret/plan.txt'), 'AccessDenied', 403)      # the owner too
err(lambda: anon.list_objects_v2(Bucket=B1), 'AccessDenied', 403)
a.delete_bucket_policy(Bucket=B1)                                                       # ... yet it can always drop the policy
assert a.get_object(Bucket=B1, Key='secret/plan.txt')['Body'].read() == b'hush'
err(lambda: anon.get_object(Bucket=B1, Key='doc.txt'), 'AccessDenied', 403)
ok('explicit deny wins, over the owner too; anonymous access by policy')

# ------------------------------------------------------------------ MalformedPolicy
for bad, why in [('{"Version": "2012-10-17", "Statement": [', 'bad JSON'),
                 (policy({'Effect': 'Permit', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/*'}), 'Effect'),
                 (json.dumps({'Version': '2011-01-01', 'Statement': [{'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/*'}]}), 'Version'),
                 (policy({'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': 'arn:aws:s3:::someone-elses/*'}), 'Resource'),
                 (policy({'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObjekt', 'Resource': f'arn:aws:s3:::{B1}/*'}), 'action'),
                 (policy({'Effect': 'Allow', 'Principal': {'AWS': '999999999999'}, 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B1}/*'}), 'principal')]:
    e = err(lambda: a.put_bucket_policy(Bucket=B1, Policy=bad), 'MalformedPolicy', 400)
assert 'Invalid principal in policy' in str(e)
err(lambda: a.get_bucket_policy(Bucket=B1), 'NoSuchBucketPolicy', 404)                  # nothing was stored
ok('MalformedPolicy: JSON, Effect, Version, Resource outside the bucket, unknown action, unknown principal')

# ------------------------------------------------------------------ ACL grants
B2 = f'acc-acl-{TAG}'
a.create_bucket(Bucket=B2)
a.put_object(Bucket=B2, Key='mine.txt', Body=b'a wrote this')
owner = {'ID': A_ID, 'DisplayName': A_ID}
a.put_bucket_acl(Bucket=B2, AccessControlPolicy={'Owner': owner, 'Grants': [
    {'Grantee': {'Type': 'CanonicalUser', 'ID': A_ID}, 'Permission': 'FULL_CONTROL'},
    {'Grantee': {'Type': 'CanonicalUser', 'ID': B_ID}, 'Permission': 'WRITE'},
    {'Grantee': {'Type': 'CanonicalUser', 'ID': B_ID}, 'Permission': 'READ'}]})
grants = a.get_bucket_acl(Bucket=B2)['Grants']
assert [(g['Grantee'].get('ID'), g['Grantee']['Type'], g['Permission']) for g in grants] == [(A_ID, 'CanonicalUser', 'FULL_CONTROL'), (B_ID, 'CanonicalUser', 'WRITE'), (B_ID, 'CanonicalUser', 'READ')], grants
b.put_object(Bucket=B2, Key='from-b.txt', Body=b'b wrote this')                          # WRITE on the bucket
b.put_object(Bucket=B2, Key='b-only.txt', Body=b'b kept this')
assert {o['Key'] for o in b.list_objects_v2(Bucket=B2)['Contents']} == {'mine.txt', 'from-b.txt', 'b-only.txt'}   # READ on the bucket
err(lambda: b.get_object(Bucket=B2, Key='mine.txt'), 'AccessDenied', 403)                # the object's ACL is a's own
err(lambda: b.get_bucket_acl(Bucket=B2), 'AccessDenied', 403)                            # no READ_ACP
# ObjectWriter (no ownership controls set): b owns what it wrote, a cannot read it ...
assert b.get_object_acl(Bucket=B2, Key='from-b.txt')['Owner']['ID'] == B_ID
err(lambda: a.get_object(Bucket=B2, Key='from-b.txt'), 'AccessDenied', 403)
err(lambda: a.get_object(Bucket=B2, Key='b-only.txt'), 'AccessDenied', 403)
# ... until b grants it, and a may delete it in its bucket anyway
b.put_object_acl(Bucket=B2, Key='from-b.txt', ACL='bucket-owner-full-control')
assert a.get_object(Bucket=B2, Key='from-b.txt')['Body'].read() == b'b wrote this'
assert [g['Grantee']['ID'] for g in a.get_object_acl(Bucket=B2, Key='from-b.txt')['Grants']] == [B_ID, A_ID]
# x-amz-grant-* headers on a write: b may read this one and its ACL
a.put_object(Bucket=B2, Key='for-b.txt', Body=b'for b', GrantRead=f'id="{B_ID}"', GrantReadACP=f'id="{B_ID}"')
assert b.get_object(Bucket=B2, Key='for-b.txt')['Body'].read() == b'for b'
assert {(g['Grantee']['ID'], g['Permission']) for g in b.get_object_acl(Bucket=B2, Key='for-b.txt')['Grants']} == {(B_ID, 'READ'), (B_ID, 'READ_ACP')}
err(lambda: b.put_object_acl(Bucket=B2, Key='for-b.txt', ACL='public-read'), 'AccessDenied', 403)   # no WRITE_ACP
a.put_object_acl(Bucket=B2, Key='mine.txt', GrantFullControl=f'id="{B_ID}"')
assert b.get_object(Bucket=B2, Key='mine.txt')['Body'].read() == b'a wrote this'           # FULL_CONTROL lets it in
# anonymous reads by an AllUsers READ grant: objects, then the listing
err(lambda: anon.get_object(Bucket=B2, Key='for-b.txt'), 'AccessDenied', 403)
a.put_object_acl(Bucket=B2, Key='for-b.txt', GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
assert anon.get_object(Bucket=B2, Key='for-b.txt')['Body'].read() == b'for b'
err(lambda: anon.list_objects_v2(Bucket=B2), 'AccessDenied', 403)
a.put_bucket_acl(Bucket=B2, GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"', GrantFullControl=f'id="{A_ID}"')
assert anon.list_objects_v2(Bucket=B2)['KeyCount'] == 4
uris = [g['Grantee'].get('URI') for g in a.get_bucket_acl(Bucket=B2)['Grants']]
assert 'http://acs.amazonaws.com/groups/global/AllUsers' in uris
# malformed grants
err(lambda: a.put_object_acl(Bucket=B2, Key='mine.txt', GrantRead='emailAddress="x@example.com"'), 'UnresolvableGrantByEmailAddress', 400)
err(lambda: a.put_object_acl(Bucket=B2, Key='mine.txt', GrantRead='id="not-an-account"'), 'InvalidArgument', 400)
err(lambda: a.put_object_acl(Bucket=B2, Key='mine.txt', ACL='private', GrantRead=f'id="{B_ID}"'), 'InvalidRequest', 400)
err(lambda: a.put_bucket_acl(Bucket=B2, AccessControlPolicy={'Owner': owner, 'Grants': [{'Grantee': {'Type': 'Group', 'URI': 'http://example.com/nobody'}, 'Permission': 'READ'}]}), 'InvalidArgument', 400)
ok('ACL grants: bucket WRITE/READ to another account, object grants by header, FULL_CONTROL, AllUsers READ, ObjectWriter ownership, listing')

# ------------------------------------------------------------------ Object Ownership
err(lambda: a.get_bucket_ownership_controls(Bucket=B2), 'OwnershipControlsNotFoundError', 404)
# the bucket ACL grants others: ACLs cannot be turned off yet
err(lambda: a.put_bucket_ownership_controls(Bucket=B2, OwnershipControls={'Rules': [{'ObjectOwnership': 'BucketOwnerEnforced'}]}), 'InvalidBucketAclWithObjectOwnership', 400)
a.put_bucket_acl(Bucket=B2, ACL='private')
a.put_bucket_ownership_controls(Bucket=B2, OwnershipControls={'Rules': [{'ObjectOwnership': 'BucketOwnerEnforced'}]})
assert a.get_bucket_ownership_controls(Bucket=B2)['OwnershipControls']['Rules'] == [{'ObjectOwnership': 'BucketOwnerEnforced'}]
err(lambda: a.put_object(Bucket=B2, Key='p', Body=b'x', ACL='public-read'), 'AccessControlListNotSupported', 400)
err(lambda: a.put_object_acl(Bucket=B2, Key='mine.txt', ACL='public-read'), 'AccessControlListNotSupported', 400)
err(lambda: a.put_bucket_acl(Bucket=B2, ACL='public-read'), 'AccessControlListNotSupported', 400)
a.put_object(Bucket=B2, Key='p', Body=b'x', ACL='bucket-owner-full-control')
err(lambda: anon.get_object(Bucket=B2, Key='for-b.txt'), 'AccessDenied', 403)             # its AllUsers grant counts no more
err(lambda: b.get_object(Bucket=B2, Key='mine.txt'), 'AccessDenied', 403)
assert a.get_object(Bucket=B2, Key='b-only.txt')['Body'].read() == b'b kept this'          # the bucket owner owns everything
assert a.get_object_acl(Bucket=B2, Key='b-only.txt')['Owner']['ID'] == A_ID
assert [(g['Grantee']['ID'], g['Permission']) for g in a.get_object_acl(Bucket=B2, Key='for-b.txt')['Grants']] == [(A_ID, 'FULL_CONTROL')]
err(lambda: a.create_bucket(Bucket=f'acc-own-{TAG}', ACL='public-read', ObjectOwnership='BucketOwnerEnforced'), 'InvalidBucketAclWithObjectOwnership', 400)
a.delete_bucket_ownership_controls(Bucket=B2)
err(lambda: a.get_bucket_ownership_controls(Bucket=B2), 'OwnershipControlsNotFoundError', 404)
# BucketOwnerPreferred: what another account writes with bucket-owner-full-control becomes the bucket owner's
B3 = f'acc-own-{TAG}'
a.create_bucket(Bucket=B3, ObjectOwnership='BucketOwnerPreferred')
assert a.get_bucket_ownership_controls(Bucket=B3)['OwnershipControls']['Rules'] == [{'ObjectOwnership': 'BucketOwnerPreferred'}]
a.put_bucket_acl(Bucket=B3, GrantWrite=f'id="{B_ID}"', GrantFullControl=f'id="{A_ID}"')
b.put_object(Bucket=B3, Key='given', Body=b'1', ACL='bucket-owner-full-control')
b.put_object(Bucket=B3, Key='kept', Body=b'2')
assert a.get_object_acl(Bucket=B3, Key='given')['Owner']['ID'] == A_ID
assert b.get_object_acl(Bucket=B3, Key='kept')['Owner']['ID'] == B_ID
ok('Object Ownership: BucketOwnerEnforced disables ACLs, BucketOwnerPreferred, ObjectWriter')

# ------------------------------------------------------------------ Block Public Access
err(lambda: a.get_public_access_block(Bucket=B3), 'NoSuchPublicAccessBlockConfiguration', 404)
a.put_object(Bucket=B3, Key='pub', Body=b'public', ACL='public-read')
assert anon.get_object(Bucket=B3, Key='pub')['Body'].read() == b'public'
a.put_public_access_block(Bucket=B3, PublicAccessBlockConfiguration={'BlockPublicAcls': True, 'IgnorePublicAcls': True, 'BlockPublicPolicy': True, 'RestrictPublicBuckets': True})
assert a.get_public_access_block(Bucket=B3)['PublicAccessBlockConfiguration'] == {'BlockPublicAcls': True, 'IgnorePublicAcls': True, 'BlockPublicPolicy': True, 'RestrictPublicBuckets': True}
err(lambda: anon.get_object(Bucket=B3, Key='pub'), 'AccessDenied', 403)                     # IgnorePublicAcls
err(lambda: a.put_object(Bucket=B3, Key='pub2', Body=b'x', ACL='public-read'), 'AccessDenied', 403)        # BlockPublicAcls
err(lambda: a.put_object_acl(Bucket=B3, Key='pub', GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"'), 'AccessDenied', 403)
err(lambda: a.put_bucket_policy(Bucket=B3, Policy=policy({'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B3}/*'})), 'AccessDenied', 403)  # BlockPublicPolicy
a.put_bucket_policy(Bucket=B3, Policy=policy({'Effect': 'Allow', 'Principal': {'AWS': B_ID}, 'Action': 's3:GetObject', 'Resource': f'arn:aws:s3:::{B3}/*'}))  # not public: fine
assert b.get_object(Bucket=B3, Key='pub')['Body'].read() == b'public'
a.delete_public_access_block(Bucket=B3)
err(lambda: a.get_public_access_block(Bucket=B3), 'NoSuchPublicAccessBlockConfiguration', 404)
assert anon.get_object(Bucket=B3, Key='pub')['Body'].read() == b'public'
ok('Block Public Access: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy')

# ------------------------------------------------------------------ clean up
for bk in (B1, B2, B3):
    a.delete_bucket_policy(Bucket=bk)
    for o in a.list_object_versions(Bucket=bk).get('Versions', []):
        a.delete_object(Bucket=bk, Key=o['Key'], VersionId=o['VersionId'])
    a.delete_bucket(Bucket=bk)
print(json.dumps({'passed': passed}))
