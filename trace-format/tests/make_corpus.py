"""Writes the hand-made files of trace-format/tests/corpus from tests/data/tiny-cpu.msgpack.

Run from trace-format/tests: python3 make_corpus.py. Each file is a hostile variation of a real
trace: huge length claims, deep nesting, cuts, wrong versions. Files the fuzzer finds are added
to the corpus beside these, by hand.
"""
import os
src = open('data/tiny-cpu.msgpack','rb').read()
cal = src.find(b'\x81\xabCalibration')
run = src.find(b'\x81\xa3Run')
hdr = src[:cal]
nxt = min(i for i in [src.find(b'\x81\xa3Run', run+1), src.find(b'\x81\xa5Setup', run+1), src.find(b'\x81\xa3End', run+1)] if i > 0)
rec = src[run:nxt]
def patch(b, key, old, new):
    k = bytes([0xa0|len(key)]) + key.encode()
    i = b.find(k + old); assert i >= 0, key
    return b[:i+len(k)] + new + b[i+len(k)+len(old):]
A32 = b'\xdd\xff\xff\xff\xff'
ev = rec.find(b'\xa6events')
marker = rec[ev+7]
hlen = {0xdc:3, 0xdd:5}.get(marker, 1)
rec_huge = rec[:ev+7] + A32 + rec[ev+7+hlen:]
files = {
  'events-claim-2pow32.msgpack': hdr + rec_huge,
  'labels-claim-2pow32.msgpack': patch(hdr, 'labels', b'\x80', b'\xdf\xff\xff\xff\xff') + rec,
  'string-claim-4gib.msgpack': hdr + patch(rec, 'variant', b'\xa8', b'\xdb\xff\xff\xff\xff'),
  'deep-nesting.msgpack': hdr + b'\x81\xa3Run\x81\xa7unknown' + b'\x91'*50000 + b'\x00',
  'header-only.msgpack': hdr,
  'header-cut.msgpack': hdr[:len(hdr)//2],
  'record-cut.msgpack': hdr + rec[:len(rec)//2],
  'reserved-marker-after-header.msgpack': hdr + b'\xc1' + rec,
  'version-2.msgpack': hdr.replace(b'\xaeformat_version\x01', b'\xaeformat_version\x02'),
  'json.msgpack': b'{"magic": "mlx-trace", "format_version": 1}\n',
  'empty.msgpack': b'',
  'end-miscount.msgpack': hdr + rec + b'\x81\xa3End\x81\xa4runs\xce\xff\xff\xff\xff',
  'event-bad-component.msgpack': hdr + rec.replace(b'\x94\x00', b'\x94\xce\xff\xff\xff\xff', 1),
}
assert b'\xaeformat_version\x01' in hdr
for name, b in files.items():
    open('corpus/'+name,'wb').write(b)
