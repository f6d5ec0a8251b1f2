"""Sign EC2 Query requests with botocore's own SigV2 signer (test helper).

Usage: python3 sigv2_sign.py '<json list of specs>'
Each spec: {method: GET|POST, url, params: [[k, v], ...], access_key, secret,
            timestamp?: epoch seconds (the signing clock),
            expires?: ISO 8601 (replace Timestamp by Expires, then re-sign),
            sha1?: true (re-sign with HmacSHA1 through the same botocore code)}
Prints a JSON list of {method, url, headers, body}.
"""
import hashlib
import json
import sys
import time

import botocore.auth
from botocore.auth import SigV2Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_real_gmtime = time.gmtime


def sign(spec):
    ts = spec.get('timestamp')
    time.gmtime = (lambda secs=None: _real_gmtime(ts if secs is None else secs)) if ts is not None else _real_gmtime
    params = dict(spec['params'])
    if spec['method'] == 'GET':
        req = AWSRequest(method='GET', url=spec['url'], params=params)
    else:
        req = AWSRequest(
            method=spec['method'],
            url=spec['url'],
            data=params,
            headers={'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'},
        )
    auth = SigV2Auth(Credentials(spec['access_key'], spec['secret']))
    auth.add_auth(req)
    signed = req.data if req.data else req.params
    if spec.get('expires') or spec.get('sha1'):
        if spec.get('expires'):
            del signed['Timestamp']
            signed['Expires'] = spec['expires']
        saved = botocore.auth.sha256
        if spec.get('sha1'):
            signed['SignatureMethod'] = 'HmacSHA1'
            botocore.auth.sha256 = hashlib.sha1
        try:
            _, sig = auth.calc_signature(req, signed)
        finally:
            botocore.auth.sha256 = saved
        signed['Signature'] = sig
    p = req.prepare()
    body = p.body
    if isinstance(body, bytes):
        body = body.decode('utf-8')
    return {'method': p.method, 'url': p.url, 'headers': dict(p.headers.items()), 'body': body or ''}


if __name__ == '__main__':
    print(json.dumps([sign(s) for s in json.loads(sys.argv[1])]))
