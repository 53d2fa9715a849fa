"""Code size by crate of a component built with its symbol names (benches/wasm-size.sh):
every core module's function bodies, attributed by the first path segment of the
mangled name; data segments apart."""
import sys, re, collections
data = open(sys.argv[1], 'rb').read()
def leb(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1; r |= (x & 0x7f) << s; s += 7
        if x < 0x80: return r, i
def sections(b, i, end):
    while i < end:
        sid = b[i]; i += 1
        size, i = leb(b, i)
        yield sid, i, i + size
        i += size
def core_modules(b):
    # component: magic + version(4) ; sections; section 1 = core module
    for sid, s, e in sections(b, 8, len(b)):
        if sid == 1:
            yield b[s:e]
def crate_of(name):
    """The crate a (mangled) function name belongs to."""
    if name.startswith('whatsapp:connector/') or name.startswith('cabi_'):
        return '<export glue (canonical ABI)>'
    legacy = re.match(r'_ZN(\d+)', name)
    if legacy:
        crate = name[legacy.end():legacy.end() + int(legacy.group(1))]
        if crate.startswith('_$LT$'):
            # `<T as Trait>::f`: the first path inside names the crate.
            inner = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\.\.', crate)
            return inner.group(1) if inner else crate
        return crate
    v0 = re.match(r'_R.*?C(?:s[0-9a-zA-Z]*_)?(\d+)', name)
    if v0:
        return name[v0.end():v0.end() + int(v0.group(1))]
    return name.split('::')[0][:40]

totals = collections.Counter()
functions = collections.Counter()
for m in core_modules(data):
    names = {}
    bodies = []
    nimports = 0
    for sid, s, e in sections(m, 8, len(m)):
        if sid == 2:
            n, i = leb(m, s)
            for _ in range(n):
                for _ in range(2):
                    l, i = leb(m, i); i += l
                kind = m[i]; i += 1
                if kind == 0:
                    _, i = leb(m, i); nimports += 1
                elif kind == 1:
                    i += 1; flags = m[i]; i += 1; _, i = leb(m, i)
                    if flags & 1: _, i = leb(m, i)
                elif kind == 2:
                    flags = m[i]; i += 1; _, i = leb(m, i)
                    if flags & 1: _, i = leb(m, i)
                elif kind == 3:
                    i += 2
                else:
                    raise SystemExit('import kind %d' % kind)
        elif sid == 10:
            n, i = leb(m, s)
            for k in range(n):
                size, j = leb(m, i)
                bodies.append(size); i = j + size
        elif sid == 0:
            l, i = leb(m, s); nm = m[i:i+l].decode(); i += l
            if nm == 'name':
                while i < e:
                    sub = m[i]; i += 1; size, i = leb(m, i); end = i + size
                    if sub == 1:
                        n, j = leb(m, i)
                        for _ in range(n):
                            idx, j = leb(m, j); l, j = leb(m, j); names[idx] = m[j:j+l].decode('utf8', 'replace'); j += l
                    i = end
        elif sid == 11:
            totals['<data>'] += e - s
    for k, size in enumerate(bodies):
        name = names.get(nimports + k, '?')
        crate = crate_of(name)
        totals[crate] += size
        functions[name] += size
total = sum(totals.values())
print('total code+data bytes', total, 'file', len(data))
for crate, size in totals.most_common(30):
    print(f'{size:8d}  {crate}')
# `--functions N`: the N largest function bodies too.
if '--functions' in sys.argv:
    n = int(sys.argv[sys.argv.index('--functions') + 1])
    print()
    for name, size in functions.most_common(n):
        print(f'{size:8d}  {name[:150]}')
