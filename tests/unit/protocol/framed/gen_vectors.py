"""Prints the reference frames that tests/unit/protocol/framed/*_test.cc
compare against, as hex, from the real Python libraries (aiomas 2.0.1,
msgpack 1.0.8, the project's test venv):

    .venv/bin/python tests/unit/protocol/framed/gen_vectors.py

1. codec vectors: aiomas's own MsgPack and JSON codecs encode messages and
   the channel's Header adds the length prefix, as Channel.send and
   Request.reply do;
2. a live channel: a real aiomas JSON server answers requests sent over a
   raw socket, and its replies (a result, an exception) are recorded;
3. the other way: msgpack-python unpacks what the C++ encoder wrote for what
   Python never writes (float 32, ext, int keys).
"""
import asyncio
import socket
import struct
import traceback

import aiomas
import msgpack
from aiomas.channel import Header


def frame(codec, msg):
    data = codec.encode(msg)
    return Header.pack(len(data)) + data


def codec_vectors():
    mp, js = aiomas.codecs.MsgPack(), aiomas.codecs.JSON()
    rich = ['hi', 1.5, None, True, False, {'a': 1, 'b': [1, 2]}, -1, -33, 128,
            65536, 2**63, -2**63, 'é😀']
    # What Request.fail sends: the formatted exception, here one never raised.
    err = ValueError('boom')
    text = ''.join(traceback.format_exception(err.__class__, err, err.__traceback__))
    messages = [
        ('request', (0, 0, 'hello')),
        ('rich request', (0, 1, rich)),
        ('result', (1, 1, {'ok': True})),
        ('exception', (2, 7, text)),
        ('big id', (0, 70000, None)),
    ]
    for name, msg in messages:
        print('msgpack', name, frame(mp, msg).hex())
    print('msgpack bytes', frame(mp, (1, 2, [b'\x00\xff', b''])).hex())
    for name, msg in messages:
        print('json', name, frame(js, msg).hex())
    floats = (0, 3, [1e16, 1e-05, 0.1, -0.0, 1e22, 123456789.125, 5e-324,
                     1.7976931348623157e308, 9999999999999998.0, 0.0001, 1/3])
    print('json floats', js.encode(floats).decode())
    print('json escapes', js.encode((0, 4, 'tab\there "q" \\ \x7f \x01 /')).decode())
    try:
        js.encode((1, 2, b'x'))
    except Exception as e:  # noqa: BLE001
        print('json bytes:', type(e).__name__, e)
    print('json int keys', js.encode((1, 2, {1: 'a', None: 'b'})).decode())
    try:
        mp.decode(mp.encode((0, 0, 'x')))
    except TypeError as e:
        print('aiomas MsgPack.decode:', e)


async def live_json():
    async def serve(channel):
        for _ in range(2):
            req = await channel.recv()
            if req.content == 'fail':
                await req.fail(ValueError('boom'))
            else:
                await req.reply(['echo', req.content])

    server = await aiomas.channel.start_server(('127.0.0.1', 0), serve)
    port = server.sockets[0].getsockname()[1]
    js = aiomas.codecs.JSON()
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(frame(js, (0, 5, 'fail')) + frame(js, (0, 6, {'k': [1, 2.5]})))
    for _ in range(2):
        head = await reader.readexactly(4)
        body = await reader.readexactly(struct.unpack('!L', head)[0])
        print('live json reply', (head + body).hex())
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.1)  # let the server's channel see the close
    server.close()
    await server.wait_closed()


def unpack_ours():
    # Bytes the C++ encoder writes (msgpack_test.cc); msgpack-python reads
    # them (strict_map_key=False for the int key).
    ours = ['ca3fc00000', 'd6ff00000001', 'c70301616263', '8101a178',
            'cf8000000000000000', 'cfffffffffffffffff']
    for h in ours:
        print('unpack', h, repr(msgpack.unpackb(bytes.fromhex(h), strict_map_key=False)))


if __name__ == '__main__':
    codec_vectors()
    asyncio.run(live_json())
    unpack_ours()
