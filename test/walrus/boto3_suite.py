# boto3 (the machine's recent one: checksum trailers by default) against Walrus.
# Run by s3.test.ts with ENDPOINT, REGION, AK1/SK1 (owner), AK2/SK2 (another account), TAG.
import os, sys, io, hashlib, base64, json, subprocess, datetime
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

E, R, TAG = os.environ['ENDPOINT'], os.environ['REGION'], os.environ['TAG']
def client(ak, sk, **cfg):
    return boto3.client('s3', endpoint_url=E, region_name=R, aws_access_key_id=ak, aws_secret_access_key=sk, config=Config(**cfg))
s3 = client(os.environ['AK1'], os.environ['SK1'], s3={'addressing_style': 'path'})
other = client(os.environ['AK2'], os.environ['SK2'], s3={'addressing_style': 'path'})
bad = client(os.environ['AK1'], 'x' * 40, retries={'max_attempts': 1})
unknown = client('AKIDOESNOTEXIST00000', 'x' * 40, retries={'max_attempts': 1})
v2 = client(os.environ['AK1'], os.environ['SK1'], signature_version='s3', s3={'addressing_style': 'path'})
passed = []
def ok(name): passed.append(name)

def err(fn, code, status=None):
    try:
        fn()
    except ClientError as e:
        got = e.response['Error']['Code']; st = e.response['ResponseMetadata']['HTTPStatusCode']
        assert got == code or (code in ('NoSuchKey','NoSuchBucket','PreconditionFailed','AccessDenied') and str(st) == got), f'expected {code}, got {got} {st}'
        if status: assert st == status, f'{code}: expected status {status}, got {st}'
        return e
    raise AssertionError(f'expected {code}, call succeeded')

B = f'boto-{TAG}'
s3.create_bucket(Bucket=B, CreateBucketConfiguration={'LocationConstraint': R})
assert s3.get_bucket_location(Bucket=B)['LocationConstraint'] == R
assert B in [b['Name'] for b in s3.list_buckets()['Buckets']]
s3.head_bucket(Bucket=B)
err(lambda: s3.create_bucket(Bucket=B), 'BucketAlreadyOwnedByYou', 409)
err(lambda: other.create_bucket(Bucket=B), 'BucketAlreadyExists', 409)
err(lambda: s3.create_bucket(Bucket='Bad_Name'), 'InvalidBucketName', 400)
err(lambda: s3.create_bucket(Bucket=f'x-{TAG}', CreateBucketConfiguration={'LocationConstraint': 'mars-1'}), 'InvalidLocationConstraint', 400)
ok('buckets')

# put/get with every checksum algorithm (trailers over aws-chunked)
data = os.urandom(300_000)
def crc_table(poly, bits):
    t = []
    for n in range(256):
        c = n
        for _ in range(8): c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t
T32C, T64 = crc_table(0x82F63B78, 32), crc_table(0x9A6C9329AC4BC9B5, 64)
def crc(t, bits, b):
    m = (1 << bits) - 1; c = m
    for x in b: c = t[(c ^ x) & 0xff] ^ (c >> 8)
    return base64.b64encode((c ^ m).to_bytes(bits // 8, 'big')).decode()
small = data[:20000]
# botocore needs awscrt to compute these two itself: send the values as headers
for algo, val in [('CRC32C', crc(T32C, 32, small)), ('CRC64NVME', crc(T64, 64, small))]:
    r = s3.put_object(Bucket=B, Key=f'ck/{algo}', Body=small, **{'Checksum' + algo: val})
    assert r['Checksum' + algo] == val, (algo, r.get('Checksum' + algo), val)
    g = s3.get_object(Bucket=B, Key=f'ck/{algo}', ChecksumMode='ENABLED')
    assert g['Body'].read() == small and g['Checksum' + algo] == val
    err(lambda: s3.put_object(Bucket=B, Key=f'ck/{algo}', Body=small + b'x', **{'Checksum' + algo: val}), 'BadDigest', 400)
for algo in ['CRC32', 'SHA1', 'SHA256']:
    r = s3.put_object(Bucket=B, Key=f'ck/{algo}', Body=data, ChecksumAlgorithm=algo)
    assert r['ETag'] == '"%s"' % hashlib.md5(data).hexdigest()
    assert r.get('Checksum' + algo), r
    g = s3.get_object(Bucket=B, Key=f'ck/{algo}', ChecksumMode='ENABLED')
    assert g['Body'].read() == data and g['Checksum' + algo] == r['Checksum' + algo]
# default (boto3 sends a CRC32 trailer) and Content-MD5
r = s3.put_object(Bucket=B, Key='plain.txt', Body=b'hello world', ContentType='text/plain', Metadata={'color': 'blue'},
                  CacheControl='max-age=60', ContentDisposition='attachment', ContentEncoding='identity', Expires=datetime.datetime(2030,1,1))
h = s3.head_object(Bucket=B, Key='plain.txt')
assert h['ContentLength'] == 11 and h['ContentType'] == 'text/plain' and h['Metadata'] == {'color': 'blue'}
assert h['CacheControl'] == 'max-age=60' and h['ContentDisposition'] == 'attachment' and h['ContentEncoding'] == 'identity'
md5 = base64.b64encode(hashlib.md5(b'abc').digest()).decode()
s3.put_object(Bucket=B, Key='md5', Body=b'abc', ContentMD5=md5)
err(lambda: s3.put_object(Bucket=B, Key='md5', Body=b'abd', ContentMD5=md5), 'BadDigest', 400)
err(lambda: s3.put_object(Bucket=B, Key='md5', Body=b'abd', ContentMD5='notbase64!'), 'InvalidDigest', 400)
err(lambda: s3.put_object(Bucket=B, Key='ck/bad', Body=b'abc', ChecksumCRC32='AAAAAA=='), 'BadDigest', 400)
ok('put/get checksums crc32 crc32c crc64nvme sha1 sha256, md5, metadata')

# ranges and conditionals
g = s3.get_object(Bucket=B, Key='ck/CRC32', Range='bytes=10-19'); assert g['Body'].read() == data[10:20] and g['ResponseMetadata']['HTTPStatusCode'] == 206
assert g['ContentRange'] == f'bytes 10-19/{len(data)}'
assert s3.get_object(Bucket=B, Key='ck/CRC32', Range='bytes=299990-')['Body'].read() == data[299990:]
assert s3.get_object(Bucket=B, Key='ck/CRC32', Range='bytes=-5')['Body'].read() == data[-5:]
err(lambda: s3.get_object(Bucket=B, Key='ck/CRC32', Range='bytes=400000-'), 'InvalidRange', 416)
etag = s3.head_object(Bucket=B, Key='plain.txt')['ETag']
assert s3.get_object(Bucket=B, Key='plain.txt', IfMatch=etag)['Body'].read() == b'hello world'
err(lambda: s3.get_object(Bucket=B, Key='plain.txt', IfMatch='"nope"'), 'PreconditionFailed', 412)
e = err(lambda: s3.get_object(Bucket=B, Key='plain.txt', IfNoneMatch=etag), '304')
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
err(lambda: s3.get_object(Bucket=B, Key='plain.txt', IfUnmodifiedSince=past), 'PreconditionFailed', 412)
err(lambda: s3.get_object(Bucket=B, Key='plain.txt', IfModifiedSince=s3.head_object(Bucket=B, Key='plain.txt')['LastModified']), '304')
assert s3.get_object(Bucket=B, Key='plain.txt', IfModifiedSince=past)['ContentLength'] == 11
g = s3.get_object(Bucket=B, Key='plain.txt', ResponseContentType='application/json', ResponseContentDisposition='inline', ResponseCacheControl='no-cache')
assert g['ContentType'] == 'application/json' and g['ContentDisposition'] == 'inline' and g['CacheControl'] == 'no-cache'
ok('ranges 206/416, conditionals 304/412, response overrides')

# copy
s3.copy_object(Bucket=B, Key='copy1', CopySource={'Bucket': B, 'Key': 'plain.txt'})
h = s3.head_object(Bucket=B, Key='copy1'); assert h['Metadata'] == {'color': 'blue'} and h['ContentType'] == 'text/plain'
s3.copy_object(Bucket=B, Key='copy2', CopySource=f'{B}/plain.txt', MetadataDirective='REPLACE', Metadata={'x': 'y'}, ContentType='a/b')
h = s3.head_object(Bucket=B, Key='copy2'); assert h['Metadata'] == {'x': 'y'} and h['ContentType'] == 'a/b'
err(lambda: s3.copy_object(Bucket=B, Key='copy3', CopySource=f'{B}/plain.txt', CopySourceIfMatch='"zzz"'), 'PreconditionFailed', 412)
err(lambda: s3.copy_object(Bucket=B, Key='plain.txt', CopySource=f'{B}/plain.txt'), 'InvalidRequest', 400)
assert s3.get_object(Bucket=B, Key='copy2')['Body'].read() == b'hello world'
ok('copy COPY/REPLACE/conditional')

# listings
for k in ['l/a/1', 'l/a/2', 'l/b/1', 'l/c', 'l/d', 'l/sp ace+%']:
    s3.put_object(Bucket=B, Key=k, Body=b'1')
r = s3.list_objects_v2(Bucket=B, Prefix='l/', Delimiter='/')
assert [p['Prefix'] for p in r['CommonPrefixes']] == ['l/a/', 'l/b/'] and [c['Key'] for c in r['Contents']] == ['l/c', 'l/d', 'l/sp ace+%'], r
keys, tok, pages = [], None, 0
while True:
    kw = {'ContinuationToken': tok} if tok else {}
    r = s3.list_objects_v2(Bucket=B, Prefix='l/', MaxKeys=2, FetchOwner=True, **kw); pages += 1
    keys += [c['Key'] for c in r.get('Contents', [])]
    if not r['IsTruncated']: break
    tok = r['NextContinuationToken']
assert keys == ['l/a/1', 'l/a/2', 'l/b/1', 'l/c', 'l/d', 'l/sp ace+%'] and pages == 3, (keys, pages)
assert [c['Key'] for c in s3.list_objects_v2(Bucket=B, Prefix='l/', StartAfter='l/b/1')['Contents']] == ['l/c', 'l/d', 'l/sp ace+%']
r = s3.list_objects(Bucket=B, Prefix='l/', Delimiter='/', MaxKeys=1)
assert r['IsTruncated'] and r['NextMarker'] == 'l/a/'
r = s3.list_objects(Bucket=B, Prefix='l/', Delimiter='/', Marker='l/a/')
assert [p['Prefix'] for p in r['CommonPrefixes']] == ['l/b/'], r
r = s3.list_objects_v2(Bucket=B, Prefix='l/sp', EncodingType='url')
assert r['Contents'][0]['Key'] in ('l/sp ace+%', 'l/sp%20ace%2B%25'), r['Contents'][0]['Key']
err(lambda: s3.list_objects_v2(Bucket=B, ContinuationToken='!!!'), 'InvalidArgument', 400)
ok('list v1 marker, v2 prefix/delimiter/max-keys/continuation/start-after/fetch-owner/encoding-type')

# delete objects
r = s3.delete_objects(Bucket=B, Delete={'Objects': [{'Key': 'l/c'}, {'Key': 'l/d'}, {'Key': 'missing'}]})
assert sorted(d['Key'] for d in r['Deleted']) == ['l/c', 'l/d', 'missing']
err(lambda: s3.head_object(Bucket=B, Key='l/c'), 'NoSuchKey' if False else '404')
s3.delete_object(Bucket=B, Key='l/sp ace+%')
ok('delete, delete objects')

# tagging + acl + cross account
s3.put_object_tagging(Bucket=B, Key='plain.txt', Tagging={'TagSet': [{'Key': 'a', 'Value': '1'}]})
assert s3.get_object_tagging(Bucket=B, Key='plain.txt')['TagSet'] == [{'Key': 'a', 'Value': '1'}]
s3.put_object(Bucket=B, Key='tagged', Body=b'x', Tagging='k1=v1&k2=v2')
assert len(s3.get_object_tagging(Bucket=B, Key='tagged')['TagSet']) == 2
s3.delete_object_tagging(Bucket=B, Key='tagged'); assert s3.get_object_tagging(Bucket=B, Key='tagged')['TagSet'] == []
err(lambda: s3.get_bucket_tagging(Bucket=B), 'NoSuchTagSet', 404)
s3.put_bucket_tagging(Bucket=B, Tagging={'TagSet': [{'Key': 'team', 'Value': 'walrus'}]})
assert s3.get_bucket_tagging(Bucket=B)['TagSet'] == [{'Key': 'team', 'Value': 'walrus'}]
s3.delete_bucket_tagging(Bucket=B)
err(lambda: other.get_object(Bucket=B, Key='plain.txt'), 'AccessDenied', 403)
err(lambda: other.put_object(Bucket=B, Key='intruder', Body=b'x'), 'AccessDenied', 403)
err(lambda: other.list_objects_v2(Bucket=B), 'AccessDenied', 403)
err(lambda: other.delete_bucket(Bucket=B), 'AccessDenied', 403)
err(lambda: other.get_bucket_acl(Bucket=B), 'AccessDenied', 403)
s3.put_object_acl(Bucket=B, Key='plain.txt', ACL='public-read')
assert any(g['Grantee'].get('URI', '').endswith('AllUsers') for g in s3.get_object_acl(Bucket=B, Key='plain.txt')['Grants'])
assert other.get_object(Bucket=B, Key='plain.txt')['Body'].read() == b'hello world'
err(lambda: other.list_objects_v2(Bucket=B), 'AccessDenied', 403)
s3.put_bucket_acl(Bucket=B, ACL='public-read')
assert other.list_objects_v2(Bucket=B)['KeyCount'] > 0
s3.put_bucket_acl(Bucket=B, ACL='private')
assert [g['Permission'] for g in s3.get_bucket_acl(Bucket=B)['Grants']] == ['FULL_CONTROL']
ok('tagging, canned ACLs, cross-account AccessDenied')

# versioning
VB = f'ver-{TAG}'
s3.create_bucket(Bucket=VB)
assert 'Status' not in s3.get_bucket_versioning(Bucket=VB)
s3.put_object(Bucket=VB, Key='k', Body=b'before')
s3.put_bucket_versioning(Bucket=VB, VersioningConfiguration={'Status': 'Enabled'})
assert s3.get_bucket_versioning(Bucket=VB)['Status'] == 'Enabled'
v1 = s3.put_object(Bucket=VB, Key='k', Body=b'one')['VersionId']
v2_ = s3.put_object(Bucket=VB, Key='k', Body=b'two')['VersionId']
assert v1 != v2_ and v1 != 'null'
assert s3.get_object(Bucket=VB, Key='k')['Body'].read() == b'two'
assert s3.get_object(Bucket=VB, Key='k', VersionId=v1)['Body'].read() == b'one'
assert s3.get_object(Bucket=VB, Key='k', VersionId='null')['Body'].read() == b'before'
d = s3.delete_object(Bucket=VB, Key='k'); assert d['DeleteMarker'] and d['VersionId']
e = err(lambda: s3.get_object(Bucket=VB, Key='k'), 'NoSuchKey', 404)
err(lambda: s3.head_object(Bucket=VB, Key='k', VersionId=d['VersionId']), '405')
err(lambda: s3.get_object(Bucket=VB, Key='k', VersionId='nosuchversion'), 'NoSuchVersion', 404)
vs = s3.list_object_versions(Bucket=VB)
assert len(vs['Versions']) == 3 and len(vs['DeleteMarkers']) == 1 and vs['DeleteMarkers'][0]['IsLatest']
assert [v['VersionId'] for v in vs['Versions']] == [v2_, v1, 'null']
p = s3.list_object_versions(Bucket=VB, MaxKeys=2); assert p['IsTruncated']
p2 = s3.list_object_versions(Bucket=VB, KeyMarker=p['NextKeyMarker'], VersionIdMarker=p['NextVersionIdMarker'])
assert len(p2.get('Versions', [])) + len(p2.get('DeleteMarkers', [])) == 2
s3.delete_object(Bucket=VB, Key='k', VersionId=d['VersionId'])
assert s3.get_object(Bucket=VB, Key='k')['Body'].read() == b'two'
s3.delete_object(Bucket=VB, Key='k', VersionId=v2_)
assert s3.get_object(Bucket=VB, Key='k')['Body'].read() == b'one'
s3.put_bucket_versioning(Bucket=VB, VersioningConfiguration={'Status': 'Suspended'})
assert s3.put_object(Bucket=VB, Key='k', Body=b'susp').get('VersionId') == 'null'
assert s3.get_object(Bucket=VB, Key='k', VersionId='null')['Body'].read() == b'susp'
err(lambda: s3.delete_bucket(Bucket=VB), 'BucketNotEmpty', 409)
for v in s3.list_object_versions(Bucket=VB)['Versions']:
    s3.delete_object(Bucket=VB, Key=v['Key'], VersionId=v['VersionId'])
s3.delete_bucket(Bucket=VB)
err(lambda: s3.head_bucket(Bucket=VB), '404')
err(lambda: s3.list_objects_v2(Bucket=VB), 'NoSuchBucket', 404)
ok('versioning round trip, delete markers, NoSuchVersion, suspended, BucketNotEmpty')

# multipart (small parts are refused, composite checksum)
MB = 1024 * 1024
u = s3.create_multipart_upload(Bucket=B, Key='mp', ChecksumAlgorithm='CRC32')['UploadId']
p1 = os.urandom(5 * MB); p2 = os.urandom(1000)
e1 = s3.upload_part(Bucket=B, Key='mp', UploadId=u, PartNumber=1, Body=p1, ChecksumAlgorithm='CRC32')
e2 = s3.upload_part(Bucket=B, Key='mp', UploadId=u, PartNumber=2, Body=p2, ChecksumAlgorithm='CRC32')
lp = s3.list_parts(Bucket=B, Key='mp', UploadId=u); assert [p['PartNumber'] for p in lp['Parts']] == [1, 2]
assert u in [x['UploadId'] for x in s3.list_multipart_uploads(Bucket=B)['Uploads']]
err(lambda: s3.complete_multipart_upload(Bucket=B, Key='mp', UploadId=u, MultipartUpload={'Parts': [
    {'PartNumber': 2, 'ETag': e2['ETag']}, {'PartNumber': 1, 'ETag': e1['ETag']}]}), 'InvalidPartOrder', 400)
err(lambda: s3.complete_multipart_upload(Bucket=B, Key='mp', UploadId=u, MultipartUpload={'Parts': [
    {'PartNumber': 1, 'ETag': '"0000"'}]}), 'InvalidPart', 400)
err(lambda: s3.complete_multipart_upload(Bucket=B, Key='mp', UploadId=u, MultipartUpload={'Parts': [
    {'PartNumber': 2, 'ETag': e2['ETag']}, {'PartNumber': 3, 'ETag': e2['ETag']}]}), 'InvalidPart', 400)
r = s3.complete_multipart_upload(Bucket=B, Key='mp', UploadId=u, MultipartUpload={'Parts': [
    {'PartNumber': 1, 'ETag': e1['ETag'], 'ChecksumCRC32': e1['ChecksumCRC32']}, {'PartNumber': 2, 'ETag': e2['ETag'], 'ChecksumCRC32': e2['ChecksumCRC32']}]})
want = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + '-2'
assert r['ETag'] == f'"{want}"', (r['ETag'], want)
assert r['ChecksumCRC32'].endswith('-2')
g = s3.get_object(Bucket=B, Key='mp', Range=f'bytes={5*MB-10}-{5*MB+9}'); assert g['Body'].read() == (p1 + p2)[5*MB-10:5*MB+10]
assert hashlib.md5(s3.get_object(Bucket=B, Key='mp')['Body'].read()).digest() == hashlib.md5(p1 + p2).digest()
err(lambda: s3.upload_part(Bucket=B, Key='mp', UploadId=u, PartNumber=1, Body=b'x'), 'NoSuchUpload', 404)
u2 = s3.create_multipart_upload(Bucket=B, Key='small')['UploadId']
a = s3.upload_part(Bucket=B, Key='small', UploadId=u2, PartNumber=1, Body=b'a' * 100)
b_ = s3.upload_part(Bucket=B, Key='small', UploadId=u2, PartNumber=2, Body=b'b' * 100)
err(lambda: s3.complete_multipart_upload(Bucket=B, Key='small', UploadId=u2, MultipartUpload={'Parts': [
    {'PartNumber': 1, 'ETag': a['ETag']}, {'PartNumber': 2, 'ETag': b_['ETag']}]}), 'EntityTooSmall', 400)
# UploadPartCopy with a range, full-object CRC64NVME
u3 = s3.create_multipart_upload(Bucket=B, Key='pc', ChecksumAlgorithm='SHA256')['UploadId']
c1 = s3.upload_part_copy(Bucket=B, Key='pc', UploadId=u3, PartNumber=1, CopySource=f'{B}/mp', CopySourceRange=f'bytes=0-{5*MB-1}')
c2 = s3.upload_part_copy(Bucket=B, Key='pc', UploadId=u3, PartNumber=2, CopySource=f'{B}/ck/CRC32', CopySourceRange='bytes=100-199')
err(lambda: s3.upload_part_copy(Bucket=B, Key='pc', UploadId=u3, PartNumber=3, CopySource=f'{B}/ck/CRC32', CopySourceRange='bytes=0-999999'), 'InvalidRange', 416)
r = s3.complete_multipart_upload(Bucket=B, Key='pc', UploadId=u3, MultipartUpload={'Parts': [
    {'PartNumber': 1, 'ETag': c1['CopyPartResult']['ETag']}, {'PartNumber': 2, 'ETag': c2['CopyPartResult']['ETag']}]})
g = s3.get_object(Bucket=B, Key='pc', ChecksumMode='ENABLED'); body = g['Body'].read()
assert body == p1 + data[100:200] and g['ChecksumSHA256'] == r['ChecksumSHA256']
s3.abort_multipart_upload(Bucket=B, Key='small', UploadId=u2)
err(lambda: s3.abort_multipart_upload(Bucket=B, Key='small', UploadId=u2), 'NoSuchUpload', 404)
err(lambda: s3.list_parts(Bucket=B, Key='small', UploadId='nope'), 'NoSuchUpload', 404)
ok('multipart: InvalidPartOrder InvalidPart EntityTooSmall NoSuchUpload, composite etag/checksum, part copy with sha256 composite')

# auth variants and errors
err(lambda: bad.list_objects_v2(Bucket=B), 'SignatureDoesNotMatch', 403)
err(lambda: unknown.list_objects_v2(Bucket=B), 'InvalidAccessKeyId', 403)
v2.put_object(Bucket=B, Key='sigv2 key', Body=b'v2 body')
assert v2.get_object(Bucket=B, Key='sigv2 key')['Body'].read() == b'v2 body'
assert 'sigv2 key' in [c['Key'] for c in v2.list_objects(Bucket=B, Prefix='sigv2')['Contents']]
ok('SigV2 header, SignatureDoesNotMatch, InvalidAccessKeyId')

# presigned URLs with curl (v4 and v2, GET and PUT), virtual-host style
url = s3.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'plain.txt'}, ExpiresIn=60)
assert subprocess.check_output(['curl', '-sf', url]) == b'hello world'
url = s3.generate_presigned_url('put_object', Params={'Bucket': B, 'Key': 'presigned-put'}, ExpiresIn=60)
subprocess.check_call(['curl', '-sf', '-X', 'PUT', '--data-binary', 'via curl', url])
assert s3.get_object(Bucket=B, Key='presigned-put')['Body'].read() == b'via curl'
url = v2.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'presigned-put'}, ExpiresIn=60)
assert subprocess.check_output(['curl', '-sf', url]) == b'via curl'
url = s3.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'plain.txt'}, ExpiresIn=1)
import time; time.sleep(2)
out = subprocess.run(['curl', '-s', '-w', '%{http_code}', url], capture_output=True).stdout
assert b'AccessDenied' in out and out.endswith(b'403'), out
tampered = s3.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'plain.txt'}, ExpiresIn=60).replace('plain.txt', 'copy1')
out = subprocess.run(['curl', '-s', '-w', '%{http_code}', tampered], capture_output=True).stdout
assert b'SignatureDoesNotMatch' in out and out.endswith(b'403'), out
port = E.rsplit(':', 1)[1]
vh = boto3.client('s3', endpoint_url=f'http://s3.localhost:{port}', region_name=R, aws_access_key_id=os.environ['AK1'],
                  aws_secret_access_key=os.environ['SK1'], config=Config(s3={'addressing_style': 'virtual'}))
url = vh.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'plain.txt'}, ExpiresIn=60)
assert url.startswith(f'http://{B}.s3.localhost:{port}/plain.txt'), url
assert subprocess.check_output(['curl', '-sf', '--resolve', f'{B}.s3.localhost:{port}:127.0.0.1', url]) == b'hello world'
ok('presigned v4/v2 GET+PUT with curl, expiry, tampering, virtual-host style')

print(json.dumps({'passed': passed}))
