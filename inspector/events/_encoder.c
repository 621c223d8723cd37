/* The capture hot path in C: an event record, byte for byte what
 * `marshal.dumps((conn, kind, time, message), 2)` writes, without marshal's costs.
 *
 * Why: under a live server every captured event is paid for on the app's own event
 * loop, and marshal spends most of its time outside the data (a bytes object per str
 * for format 2, a frame per call from Python). This writer covers the plain data ASGI
 * messages hold (None, bool, int32, float, str, bytes, tuple, list, dict, all exact
 * types); for anything else it answers None and the caller takes the Python path,
 * which writes the same format. No Python code runs while it walks the message, so
 * the containers cannot change under it.
 *
 * encode(conn, kind, t0, message, limit, skip) -> bytes | None
 *   time = monotonic clock (as time.perf_counter) - t0
 *   limit: a top-level str/bytes value longer than this answers None (the caller cuts it);
 *          negative: no limit
 *   skip: a tuple of top-level keys left out of a dict message (the scope's app, state...)
 *
 * decode(first_seq, records, event_type, slow, clean_exit) reads a batch of records back
 * into events (see "the reader" below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "_encoder_api.h"

#define MAX_DEPTH 64
#define UNSUPPORTED ENCODER_UNSUPPORTED

/* A record is written here first. On the stack up to 4 KiB: a 1 KiB body with its
 * message fits, and a malloc per record cost a POST echo more than writing its body. */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int on_heap;
    char stack[4096];
} Buffer;

static PyObject *perf_counter = NULL;   /* used where CLOCK_MONOTONIC is not perf_counter */

static int grow(Buffer *b, Py_ssize_t n);

static inline int
reserve(Buffer *b, Py_ssize_t n)
{
    return b->len + n <= b->cap ? 0 : grow(b, n);
}

static int
grow(Buffer *b, Py_ssize_t n)
{
    Py_ssize_t cap = b->cap * 2;
    if (cap < b->len + n)
        cap = b->len + n;
    char *data;
    if (b->on_heap) {
        data = PyMem_Realloc(b->data, cap);
    } else {
        data = PyMem_Malloc(cap);
        if (data != NULL)
            memcpy(data, b->data, b->len);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    b->on_heap = 1;
    return 0;
}

/* Most strings and header values here are a few bytes: a call to memcpy costs more
 * than two overlapping fixed-size moves (which compile to plain loads and stores). */
static inline void
copy(char *dst, const char *src, Py_ssize_t n)
{
    if (n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

static inline void
put_u32(char *p, uint32_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
    p[2] = (char)((v >> 16) & 0xff);
    p[3] = (char)((v >> 24) & 0xff);
}

static inline int
write_sized(Buffer *b, char type, const char *data, Py_ssize_t size)
{
    if (size > INT32_MAX)
        return UNSUPPORTED;
    if (reserve(b, 5 + size) < 0)
        return -1;
    char *p = b->data + b->len;
    p[0] = type;
    put_u32(p + 1, (uint32_t)size);
    copy(p + 5, data, size);
    b->len += 5 + size;
    return 0;
}

static inline int
write_header(Buffer *b, char type, uint32_t n)
{
    if (reserve(b, 5) < 0)
        return -1;
    b->data[b->len] = type;
    put_u32(b->data + b->len + 1, n);
    b->len += 5;
    return 0;
}

static int write_object(Buffer *b, PyObject *o, int depth);

static inline int
write_double(Buffer *b, double v)
{
    if (reserve(b, 9) < 0)
        return -1;
    b->data[b->len] = 'g';
#if PY_VERSION_HEX >= 0x030B0000
    if (PyFloat_Pack8(v, b->data + b->len + 1, 1) < 0)
#else
    if (_PyFloat_Pack8(v, (unsigned char *)b->data + b->len + 1, 1) < 0)
#endif
        return -1;
    b->len += 9;
    return 0;
}

static inline int
write_str(Buffer *b, PyObject *o)
{
    if (PyUnicode_IS_COMPACT_ASCII(o))      /* ASCII is its own UTF-8: no call needed */
        return write_sized(b, 'u', (const char *)PyUnicode_DATA(o), PyUnicode_GET_LENGTH(o));
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(o, &size);
    if (utf8 == NULL) {           /* lone surrogates: marshal's surrogatepass, in Python */
        PyErr_Clear();
        return UNSUPPORTED;
    }
    return write_sized(b, 'u', utf8, size);
}

static int
write_items(Buffer *b, char type, PyObject **items, Py_ssize_t n, int depth)
{
    if (n > INT32_MAX)
        return UNSUPPORTED;
    int rc = write_header(b, type, (uint32_t)n);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++)
        rc = write_object(b, items[i], depth + 1);
    return rc;
}

/* Is `key` one of the str in `skip`? Two equal interned strings are one object, so an
 * interned key (the literals servers and frameworks use) needs no comparison. */
static inline int
is_skipped(PyObject *key, PyObject *skip)
{
    int interned = PyUnicode_CheckExact(key) && PyUnicode_CHECK_INTERNED(key);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(skip); i++) {
        PyObject *s = PyTuple_GET_ITEM(skip, i);
        if (key == s)
            return 1;
        if (interned && PyUnicode_CHECK_INTERNED(s))
            continue;             /* both interned, not one object: not equal */
        if (PyUnicode_CheckExact(key) && PyUnicode_CheckExact(s) &&
            PyUnicode_GET_LENGTH(key) == PyUnicode_GET_LENGTH(s) && PyUnicode_Compare(key, s) == 0)
            return 1;
    }
    return 0;
}

static int
write_dict(Buffer *b, PyObject *o, int depth, Py_ssize_t limit, PyObject *skip)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    if (reserve(b, 1) < 0)
        return -1;
    b->data[b->len++] = '{';
    while (PyDict_Next(o, &pos, &key, &value)) {
        if (skip != NULL && is_skipped(key, skip))
            continue;
        if (limit >= 0 && ((PyBytes_CheckExact(value) && PyBytes_GET_SIZE(value) > limit) ||
                           (PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) > limit)))
            return UNSUPPORTED;
        int rc = write_object(b, key, depth + 1);
        if (rc == 0)
            rc = write_object(b, value, depth + 1);
        if (rc != 0)
            return rc;
    }
    if (reserve(b, 1) < 0)
        return -1;
    b->data[b->len++] = '0';
    return 0;
}

static int
write_object(Buffer *b, PyObject *o, int depth)
{
    /* Most frequent first: header names and values, strings, header pairs and lists. */
    if (PyBytes_CheckExact(o))
        return write_sized(b, 's', PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (PyUnicode_CheckExact(o))
        return write_str(b, o);
    if (depth > MAX_DEPTH)
        return UNSUPPORTED;
    if (PyTuple_CheckExact(o))
        return write_items(b, '(', ((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o), depth);
    if (PyList_CheckExact(o))
        return write_items(b, '[', ((PyListObject *)o)->ob_item, PyList_GET_SIZE(o), depth);
    if (PyLong_CheckExact(o)) {
        int overflow;
        long v = PyLong_AsLongAndOverflow(o, &overflow);
        if (overflow || v > INT32_MAX || v < INT32_MIN)
            return UNSUPPORTED;   /* marshal's base-2**15 digits: the Python path */
        if (v == -1 && PyErr_Occurred())
            return -1;
        return write_header(b, 'i', (uint32_t)(int32_t)v);
    }
    if (PyDict_CheckExact(o))
        return write_dict(b, o, depth, -1, NULL);
    if (o == Py_None || o == Py_True || o == Py_False) {
        if (reserve(b, 1) < 0)
            return -1;
        b->data[b->len++] = o == Py_None ? 'N' : (o == Py_True ? 'T' : 'F');
        return 0;
    }
    if (PyFloat_CheckExact(o))
        return write_double(b, PyFloat_AS_DOUBLE(o));
    return UNSUPPORTED;
}

static double
now(void)
{
#if defined(__linux__) && defined(CLOCK_MONOTONIC)
    /* CPython's perf_counter on Linux reads this same clock. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) / 1e9;
#else
    PyObject *t = PyObject_CallNoArgs(perf_counter);
    if (t == NULL)
        return -1.0;
    double value = PyFloat_AsDouble(t);
    Py_DECREF(t);
    return value;
#endif
}

static void
buffer_init(Buffer *b)
{
    b->data = b->stack;
    b->len = 0;
    b->cap = sizeof(b->stack);
    b->on_heap = 0;
}

static void
buffer_free(Buffer *b)
{
    if (b->on_heap)
        PyMem_Free(b->data);
}

/* The record of (conn, kind, t, message) into b: 0, UNSUPPORTED or -1 (error set). `skip`
 * (a tuple, or NULL) names top-level keys to leave out; a payload over `limit` (if >= 0)
 * is UNSUPPORTED, for the caller's slow path to cut. */
static int
write_event(Buffer *b, PyObject *conn, PyObject *kind, double t, PyObject *message,
            Py_ssize_t limit, PyObject *skip)
{
    int rc = write_header(b, '(', 4);
    if (rc == 0)
        rc = write_object(b, conn, 1);
    if (rc == 0)
        rc = write_object(b, kind, 1);
    if (rc == 0)
        rc = write_double(b, t);
    if (rc == 0) {
        if (PyDict_CheckExact(message))
            rc = write_dict(b, message, 1, limit, skip);
        else
            rc = write_object(b, message, 1);
    }
    return rc;
}

/* The arguments record(conn, kind, t0, message, limit, skip) takes from Python: t0,
 * limit, and skip as a tuple or NULL. 0, or -1 with an error set. */
static int
parse_record_args(PyObject *const *args, Py_ssize_t nargs, double *t0, Py_ssize_t *limit,
                  PyObject **skip)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "takes 6 arguments: conn, kind, t0, message, limit, skip");
        return -1;
    }
    *t0 = PyFloat_AsDouble(args[2]);
    *limit = PyLong_AsSsize_t(args[4]);
    if ((*t0 == -1.0 || *limit == -1) && PyErr_Occurred())
        return -1;
    if (args[5] != Py_None && !PyTuple_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "skip must be a tuple or None");
        return -1;
    }
    *skip = args[5] == Py_None ? NULL : args[5];
    return 0;
}

/* The record of (conn, kind, now - t0, message) into b. */
static int
write_event_now(Buffer *b, PyObject *conn, PyObject *kind, double t0, PyObject *message,
                Py_ssize_t limit, PyObject *skip)
{
    double t = now();
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    return write_event(b, conn, kind, t - t0, message, limit, skip);
}

static PyObject *
encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    double t0;
    Py_ssize_t limit;
    PyObject *skip;
    if (parse_record_args(args, nargs, &t0, &limit, &skip) < 0)
        return NULL;
    Buffer b;
    buffer_init(&b);
    int rc = write_event_now(&b, args[0], args[1], t0, args[3], limit, skip);
    PyObject *result = NULL;
    if (rc == 0)
        result = PyBytes_FromStringAndSize(b.data, b.len);
    else if (rc == UNSUPPORTED)
        result = Py_NewRef(Py_None);
    buffer_free(&b);
    return result;
}

/* ------------------------------------------------------------------ the reader
 *
 * decode(first_seq, records, event_type, slow, clean_exit) -> [event_type]
 *   The events of consecutive records, as `events.decode_record` makes them, one call for
 *   a whole batch (every reader of the ring decodes batches: the headless printer, the
 *   dashboard, the publisher, the capture writer).
 *
 * Why: marshal.loads spent most of its time making objects the batch makes again and
 * again (the scope's keys, "http.response.start", b"content-type", "127.0.0.1"), and
 * one Python call per record cost as much again. This reader covers what the encoders
 * write (None, bool, int32, float, str, bytes, tuple, list, dict) and takes a str or
 * bytes of up to CACHE_MAX_LEN bytes from a small cache of the ones last read: both are
 * immutable, so a shared one is the same value; a dict key from the cache has its hash
 * already. Anything else in a record (another type code, a malformed or cut record, a
 * record that is not a 4- or 5-tuple, an error) makes it call `slow(seq, record)` for
 * that record (decode_record: marshal's own answer, or its exception).
 */

#define CACHE_SLOTS 1024          /* a power of two */
#define CACHE_MAX_LEN 40

static PyObject *atom_cache[CACHE_SLOTS];

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Reader;

static inline int
read_i32(Reader *r, int32_t *out)
{
    if (r->end - r->p < 4)
        return -1;
    const unsigned char *p = r->p;
    *out = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24));
    r->p += 4;
    return 0;
}

static inline int
cached_matches(PyObject *o, const unsigned char *s, Py_ssize_t n, int text)
{
    if (text)
        return PyUnicode_CheckExact(o) && PyUnicode_IS_COMPACT_ASCII(o) &&
               PyUnicode_GET_LENGTH(o) == n && memcmp(PyUnicode_DATA(o), s, n) == 0;
    return PyBytes_CheckExact(o) && PyBytes_GET_SIZE(o) == n &&
           memcmp(PyBytes_AS_STRING(o), s, n) == 0;
}

/* A short str (ASCII) or bytes, from the cache or made and cached. */
static PyObject *
cached_atom(const unsigned char *s, Py_ssize_t n, int text)
{
    uint32_t h = 2166136261u ^ (uint32_t)text;      /* FNV-1a */
    unsigned char high = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        high |= s[i];
        h = (h ^ s[i]) * 16777619u;
    }
    if (text && (high & 0x80))
        return PyUnicode_DecodeUTF8((const char *)s, n, "surrogatepass");
    PyObject **slot = &atom_cache[h & (CACHE_SLOTS - 1)];
    if (*slot != NULL && cached_matches(*slot, s, n, text))
        return Py_NewRef(*slot);
    PyObject *o;
    if (text) {
        o = PyUnicode_New(n, 127);
        if (o != NULL)
            memcpy(PyUnicode_DATA(o), s, n);
    } else {
        o = PyBytes_FromStringAndSize((const char *)s, n);
    }
    if (o != NULL)
        Py_XSETREF(*slot, Py_NewRef(o));
    return o;
}

/* The next object; NULL for anything this reader does not cover (an error may be set). */
static PyObject *
read_object(Reader *r, int depth)
{
    if (r->p >= r->end || depth > MAX_DEPTH)
        return NULL;
    unsigned char code = *r->p++;
    int32_t n;
    switch (code) {
    case 'N':
        return Py_NewRef(Py_None);
    case 'T':
        return Py_NewRef(Py_True);
    case 'F':
        return Py_NewRef(Py_False);
    case 'i':
        return read_i32(r, &n) < 0 ? NULL : PyLong_FromLong(n);
    case 'g': {
        if (r->end - r->p < 8)
            return NULL;
#if PY_VERSION_HEX >= 0x030B0000
        double v = PyFloat_Unpack8((const char *)r->p, 1);
#else
        double v = _PyFloat_Unpack8(r->p, 1);
#endif
        if (v == -1.0 && PyErr_Occurred())
            return NULL;
        r->p += 8;
        return PyFloat_FromDouble(v);
    }
    case 'u':
    case 's': {
        if (read_i32(r, &n) < 0 || n < 0 || n > r->end - r->p)
            return NULL;
        const unsigned char *s = r->p;
        r->p += n;
        if (n <= CACHE_MAX_LEN)
            return cached_atom(s, n, code == 'u');
        if (code == 's')
            return PyBytes_FromStringAndSize((const char *)s, n);
        return PyUnicode_DecodeUTF8((const char *)s, n, "surrogatepass");
    }
    case '(':
    case '[': {
        /* Every item takes a byte at least: a count beyond that is a broken record. */
        if (read_i32(r, &n) < 0 || n < 0 || n > r->end - r->p)
            return NULL;
        PyObject *items = code == '(' ? PyTuple_New(n) : PyList_New(n);
        if (items == NULL)
            return NULL;
        PyObject **slots = code == '(' ? ((PyTupleObject *)items)->ob_item
                                       : ((PyListObject *)items)->ob_item;
        for (int32_t i = 0; i < n; i++) {
            PyObject *item = read_object(r, depth + 1);
            if (item == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            slots[i] = item;
        }
        return items;
    }
    case '{': {
        PyObject *dict = PyDict_New();
        if (dict == NULL)
            return NULL;
        for (;;) {
            if (r->p < r->end && *r->p == '0') {
                r->p++;
                return dict;
            }
            PyObject *key = read_object(r, depth + 1);
            PyObject *value = key == NULL ? NULL : read_object(r, depth + 1);
            int rc = value == NULL ? -1 : PyDict_SetItem(dict, key, value);
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (rc < 0) {
                Py_DECREF(dict);
                return NULL;
            }
        }
    }
    default:
        return NULL;
    }
}

/* The event of one record, or NULL: the caller asks `slow` (an error may be set). */
static PyObject *
read_event(PyObject *seq, PyObject *record, PyTypeObject *event_type, PyObject *clean_exit)
{
    Reader r = {(const unsigned char *)PyBytes_AS_STRING(record),
                (const unsigned char *)PyBytes_AS_STRING(record) + PyBytes_GET_SIZE(record)};
    int32_t n;
    if (r.p >= r.end || *r.p++ != '(' || read_i32(&r, &n) < 0 || (n != 4 && n != 5))
        return NULL;
    /* (conn, kind, time, message[, truncated]) -> Event(seq, conn, time, kind, message,
     * truncated): fields[i] goes to the event's slot at[i]. */
    static const int at[5] = {1, 3, 2, 4, 5};
    PyObject *fields[6] = {seq, NULL, NULL, NULL, NULL, NULL};
    for (int32_t i = 0; i < n; i++) {
        PyObject *field = read_object(&r, 1);
        if (field == NULL)
            goto fail;
        fields[at[i]] = field;
    }
    if (n == 4) {
        fields[5] = Py_NewRef(Py_None);
        if (fields[4] == Py_None) {   /* a clean exit is recorded as None */
            Py_SETREF(fields[4], PyObject_CallNoArgs(clean_exit));
            if (fields[4] == NULL)
                goto fail;
        }
    }
    PyObject *event = event_type->tp_alloc(event_type, 6);
    if (event == NULL)
        goto fail;
    Py_INCREF(seq);
    for (int i = 0; i < 6; i++)
        PyTuple_SET_ITEM(event, i, fields[i]);
    return event;
fail:
    for (int i = 1; i < 6; i++)
        Py_XDECREF(fields[i]);
    return NULL;
}

static PyObject *
decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "takes 5 arguments: first_seq, records, event_type, slow, clean_exit");
        return NULL;
    }
    long long first = PyLong_AsLongLong(args[0]);
    if (first == -1 && PyErr_Occurred())
        return NULL;
    PyObject *event_type = args[2], *slow = args[3], *clean_exit = args[4];
    if (!PyType_Check(event_type) ||
        !PyType_IsSubtype((PyTypeObject *)event_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "event_type must be a tuple type");
        return NULL;
    }
    /* A tuple of the records, held for the whole batch: `slow` and `clean_exit` are
     * Python code, which may change the list it came from. */
    PyObject *records = PySequence_Tuple(args[1]);
    if (records == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(records);
    PyObject *events = PyList_New(n);
    for (Py_ssize_t i = 0; events != NULL && i < n; i++) {
        PyObject *record = PyTuple_GET_ITEM(records, i);
        PyObject *seq = PyLong_FromLongLong(first + i);
        PyObject *event = NULL;
        if (seq != NULL && PyBytes_CheckExact(record)) {
            event = read_event(seq, record, (PyTypeObject *)event_type, clean_exit);
            if (event == NULL)
                PyErr_Clear();
        }
        if (event == NULL && seq != NULL)
            event = PyObject_CallFunctionObjArgs(slow, seq, record, NULL);
        Py_XDECREF(seq);
        if (event == NULL)
            Py_CLEAR(events);
        else
            PyList_SET_ITEM(events, i, event);
    }
    Py_DECREF(records);
    return events;
}

/* header_pairs(value) -> list | None
 *   A new list of the same pairs when `value` is a list or tuple of exact (bytes, bytes)
 *   tuples, as servers send headers and the reader above makes them; None for anything
 *   else, which `flow_state.as_headers` reads the slow way. Why: the fold reads the
 *   request's and the response's headers of every flow, and checking each pair in Python
 *   cost more than the rest of the scope did.
 */
static PyObject *
header_pairs(PyObject *module, PyObject *value)
{
    (void)module;
    PyObject **items;
    Py_ssize_t n;
    if (PyList_CheckExact(value)) {
        items = ((PyListObject *)value)->ob_item;
        n = PyList_GET_SIZE(value);
    } else if (PyTuple_CheckExact(value)) {
        items = ((PyTupleObject *)value)->ob_item;
        n = PyTuple_GET_SIZE(value);
    } else {
        Py_RETURN_NONE;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = items[i];
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 0)) ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 1)))
            Py_RETURN_NONE;
    }
    PyObject *pairs = PyList_New(n);
    if (pairs == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(pairs, i, Py_NewRef(items[i]));
    return pairs;
}

/* ------------------------------------------------------------------ the ring
 *
 * Records live back to back in one arena of max_bytes (allocated on first use, so the
 * pages are committed only as they fill), wrapping at its end; a record may straddle the
 * end. Positions are virtual (bytes ever stored); a record's start is kept in a ring of
 * `capacity` slots, so a record costs no object, no allocation and no free: eviction is
 * moving `head`. Why: with one bytes object per record, allocating each new record and
 * freeing each evicted one touched cold memory, and that cost a live server more than
 * encoding did. All of it runs under the GIL, so a reader in another thread sees whole
 * records only.
 */

typedef struct {
    PyObject_HEAD
    Py_ssize_t capacity;
    Py_ssize_t max_bytes;
    char *arena;
    Py_ssize_t arena_size;
    int64_t *starts;          /* starts[seq % capacity]: virtual start of record seq */
    long long first_seq;      /* oldest record held */
    long long next_seq;       /* the seq the next record gets */
    long long dropped;        /* evicted to stay within the bounds */
    int64_t head;             /* virtual start of the oldest record (== tail when empty) */
    int64_t tail;             /* virtual write position */
} Ring;

static int
ring_init(Ring *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"capacity", "max_bytes", NULL};
    Py_ssize_t capacity = 200000, max_bytes = 64 * 1024 * 1024;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|nn", keywords, &capacity, &max_bytes))
        return -1;
    if (capacity < 1) {
        PyErr_SetString(PyExc_ValueError, "capacity must be at least 1");
        return -1;
    }
    if (max_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must be at least 1");
        return -1;
    }
    int64_t *starts = PyMem_RawMalloc(sizeof(int64_t) * (size_t)capacity);
    if (starts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_RawFree(self->starts);
    PyMem_RawFree(self->arena);
    self->starts = starts;
    self->arena = NULL;
    self->arena_size = 0;
    self->capacity = capacity;
    self->max_bytes = max_bytes;
    self->first_seq = self->next_seq = self->dropped = 0;
    self->head = self->tail = 0;
    return 0;
}

static void
ring_dealloc(Ring *self)
{
    PyMem_RawFree(self->starts);
    PyMem_RawFree(self->arena);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static void
evict_oldest(Ring *self)
{
    self->first_seq++;
    self->dropped++;
    self->head = self->first_seq < self->next_seq
                     ? self->starts[self->first_seq % self->capacity] : self->tail;
}

/* Store n bytes as the next record; -1 with an error set on failure, else its seq. */
static long long
ring_store(Ring *self, const char *data, Py_ssize_t n)
{
    if (self->starts == NULL) {     /* made by Ring.__new__ without its __init__ */
        PyErr_SetString(PyExc_ValueError, "Ring.__init__ was not called");
        return -1;
    }
    while (self->next_seq - self->first_seq >= self->capacity)
        evict_oldest(self);
    while (self->next_seq > self->first_seq && (self->tail - self->head) + n > self->max_bytes)
        evict_oldest(self);
    /* A record larger than the whole cap still goes in, alone, in an arena grown for it;
     * once the ring is empty again, the arena goes back to max_bytes. Either way nothing
     * is held when the arena is replaced. */
    Py_ssize_t want = n > self->max_bytes ? n : self->max_bytes;
    int empty = self->next_seq == self->first_seq;
    if (self->arena == NULL || want > self->arena_size ||
        (empty && self->arena_size > want)) {
        char *arena = PyMem_RawMalloc(want);
        if (arena == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_RawFree(self->arena);
        self->arena = arena;
        self->arena_size = want;
        self->head = self->tail = 0;
    }
    Py_ssize_t at = (Py_ssize_t)(self->tail % self->arena_size);
    Py_ssize_t first_part = self->arena_size - at < n ? self->arena_size - at : n;
    memcpy(self->arena + at, data, first_part);
    if (first_part < n)
        memcpy(self->arena, data + first_part, n - first_part);
    self->starts[self->next_seq % self->capacity] = self->tail;
    self->tail += n;
    if (self->next_seq == self->first_seq)
        self->head = self->starts[self->first_seq % self->capacity];
    return self->next_seq++;
}

static PyObject *
ring_append(Ring *self, PyObject *record)
{
    if (!PyBytes_Check(record)) {
        PyErr_SetString(PyExc_TypeError, "a record is bytes");
        return NULL;
    }
    long long seq = ring_store(self, PyBytes_AS_STRING(record), PyBytes_GET_SIZE(record));
    return seq < 0 ? NULL : PyLong_FromLongLong(seq);
}

/* Encode and store one event: 0 (its seq in *seq, if asked), UNSUPPORTED, or -1 with an
 * error set. What Ring.record does, and what inspector.capture._hooks calls through the capsule
 * for every message, without a Python call (arguments boxed and parsed, the seq boxed:
 * a fifth of the recording). */
static int
ring_store_event(PyObject *ring, PyObject *conn, PyObject *kind, double t0,
                 PyObject *message, Py_ssize_t limit, PyObject *skip, long long *seq)
{
    Buffer b;
    buffer_init(&b);
    int rc = write_event_now(&b, conn, kind, t0, message, limit, skip);
    if (rc == 0) {
        long long stored = ring_store((Ring *)ring, b.data, b.len);
        if (stored < 0)
            rc = -1;
        else if (seq != NULL)
            *seq = stored;
    }
    buffer_free(&b);
    return rc;
}

static PyObject *
ring_record(Ring *self, PyObject *const *args, Py_ssize_t nargs)
{
    double t0;
    Py_ssize_t limit;
    PyObject *skip;
    long long seq;
    if (parse_record_args(args, nargs, &t0, &limit, &skip) < 0)
        return NULL;
    int rc = ring_store_event((PyObject *)self, args[0], args[1], t0, args[3], limit, skip,
                              &seq);
    if (rc < 0)
        return NULL;
    return rc == UNSUPPORTED ? Py_NewRef(Py_None) : PyLong_FromLongLong(seq);
}

static Py_ssize_t
record_size(Ring *self, long long seq)
{
    int64_t start = self->starts[seq % self->capacity];
    int64_t end = seq + 1 < self->next_seq ? self->starts[(seq + 1) % self->capacity] : self->tail;
    return (Py_ssize_t)(end - start);
}

/* Copy record `seq` (record_size bytes) to dst; the arena may wrap inside it. */
static void
record_copy(Ring *self, long long seq, char *dst)
{
    int64_t start = self->starts[seq % self->capacity];
    Py_ssize_t n = record_size(self, seq);
    Py_ssize_t at = (Py_ssize_t)(start % self->arena_size);
    Py_ssize_t first_part = self->arena_size - at < n ? self->arena_size - at : n;
    memcpy(dst, self->arena + at, first_part);
    if (first_part < n)
        memcpy(dst + first_part, self->arena, n - first_part);
}

static PyObject *
record_bytes(Ring *self, long long seq)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, record_size(self, seq));
    if (out == NULL)
        return NULL;
    record_copy(self, seq, PyBytes_AS_STRING(out));
    return out;
}

/* v as a 32-bit count at p, big- or little-endian; the byte after it. */
static char *
put_count(char *p, uint32_t v, int big_endian)
{
    if (!big_endian) {
        put_u32(p, v);
        return p + 4;
    }
    p[0] = (char)((v >> 24) & 0xff);
    p[1] = (char)((v >> 16) & 0xff);
    p[2] = (char)((v >> 8) & 0xff);
    p[3] = (char)(v & 0xff);
    return p + 4;
}

/* The records a batch from `seq` takes, [*start, *stop): at most `limit`, and after the
 * first no more than `max_bytes` counting `overhead` bytes a record; their bytes in
 * *payload. */
static void
batch_span(Ring *self, long long seq, Py_ssize_t limit, Py_ssize_t max_bytes,
           Py_ssize_t overhead, long long *start, long long *stop, Py_ssize_t *payload)
{
    long long first = seq > self->first_seq ? seq : self->first_seq;
    long long end = first;
    Py_ssize_t total = 0, bytes = 0;
    while (end < self->next_seq && end - first < limit) {
        Py_ssize_t n = record_size(self, end);
        if (end > first && total + n + overhead > max_bytes)
            break;
        total += n + overhead;
        bytes += n;
        end++;
    }
    *start = first;
    *stop = end;
    *payload = bytes;
}

/* Write records [start, stop) at p, each after `tag` (if not 0) and its size as a
 * 32-bit count; the end of what was written. */
static char *
write_records(Ring *self, long long start, long long stop, char *p, char tag, int big_endian)
{
    for (long long s = start; s < stop; s++) {
        Py_ssize_t n = record_size(self, s);
        if (tag)
            *p++ = tag;
        p = put_count(p, (uint32_t)n, big_endian);
        record_copy(self, s, p);
        p += n;
    }
    return p;
}

/* The span of a batch from (seq, limit, max_bytes) args; -1 with an error set. */
static int
parse_batch(Ring *self, PyObject *args, const char *format, Py_ssize_t overhead,
            long long *seq, long long *start, long long *stop, Py_ssize_t *payload,
            Py_ssize_t *head)
{
    Py_ssize_t limit, max_bytes;
    if (!PyArg_ParseTuple(args, format, seq, &limit, &max_bytes, head))
        return -1;
    if (self->starts == NULL) {
        PyErr_SetString(PyExc_ValueError, "Ring.__init__ was not called");
        return -1;
    }
    batch_span(self, *seq, limit, max_bytes, overhead, start, stop, payload);
    if (*stop - *start > INT32_MAX || *payload > PY_SSIZE_T_MAX / 2) {
        PyErr_SetString(PyExc_OverflowError, "too many records for one batch");
        return -1;
    }
    return 0;
}

/* _marshalled(seq, limit, max_bytes) -> (first_seq, count, blob, missed)
 *
 * Records from seq on, at most `limit` of them and, after the first, at most `max_bytes`
 * of record bytes in all, as one bytes object equal to marshal.dumps(records, 2): a list
 * ('[', count) of bytes objects ('s', size, data), little-endian 32-bit counts. What a
 * publisher sends as it is, with no bytes object made per record. */
static PyObject *
ring_marshalled(Ring *self, PyObject *args)
{
    long long seq, start, stop;
    Py_ssize_t payload, head = 0;
    if (parse_batch(self, args, "Lnn", 0, &seq, &start, &stop, &payload, &head) < 0)
        return NULL;
    Py_ssize_t count = (Py_ssize_t)(stop - start);
    PyObject *blob = PyBytes_FromStringAndSize(NULL, 5 + 5 * count + payload);
    if (blob == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(blob);
    *p++ = '[';
    p = put_count(p, (uint32_t)count, 0);
    write_records(self, start, stop, p, 's', 0);
    return Py_BuildValue("(LnNL)", start, count, blob, start - seq);
}

/* _framed(seq, limit, max_bytes, head) -> (first_seq, count, frame, missed)
 *
 * Records from seq on, at most `limit` of them and, after the first, at most `max_bytes`
 * counting 4 bytes a record, each after its size as a big-endian 32-bit count, in a
 * bytearray that starts with `head` zero bytes for the caller's header: a tap EVENTS
 * frame written once, with no bytes object made per record. */
static PyObject *
ring_framed(Ring *self, PyObject *args)
{
    long long seq, start, stop;
    Py_ssize_t payload, head;
    if (parse_batch(self, args, "Lnnn", 4, &seq, &start, &stop, &payload, &head) < 0)
        return NULL;
    if (head < 0 || head > 4096) {
        PyErr_SetString(PyExc_ValueError, "head is 0 to 4096 bytes");
        return NULL;
    }
    Py_ssize_t count = (Py_ssize_t)(stop - start);
    PyObject *frame = PyByteArray_FromStringAndSize(NULL, head + 4 * count + payload);
    if (frame == NULL)
        return NULL;
    char *p = PyByteArray_AS_STRING(frame);
    memset(p, 0, head);
    write_records(self, start, stop, p + head, 0, 1);
    return Py_BuildValue("(LnNL)", start, count, frame, start - seq);
}

/* since(seq, limit=None) -> (first_seq, [records], missed) */
static PyObject *
ring_since(Ring *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"seq", "limit", NULL};
    long long seq;
    PyObject *limit_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "L|O", keywords, &seq, &limit_obj))
        return NULL;
    long long start = seq > self->first_seq ? seq : self->first_seq;
    long long stop = self->next_seq;
    if (limit_obj != Py_None) {
        long long limit = PyLong_AsLongLong(limit_obj);
        if (limit == -1 && PyErr_Occurred())
            return NULL;
        if (limit < 0)
            limit = 0;
        if (start + limit < stop)
            stop = start + limit;
    }
    PyObject *records = PyList_New(stop > start ? (Py_ssize_t)(stop - start) : 0);
    if (records == NULL)
        return NULL;
    for (long long s = start; s < stop; s++) {
        PyObject *record = record_bytes(self, s);
        if (record == NULL) {
            Py_DECREF(records);
            return NULL;
        }
        PyList_SET_ITEM(records, (Py_ssize_t)(s - start), record);
    }
    return Py_BuildValue("(LNL)", start, records, start - seq);
}

static PyObject *
ring_clear(Ring *self, PyObject *unused)
{
    (void)unused;
    self->first_seq = self->next_seq;
    self->head = self->tail;
    Py_RETURN_NONE;
}

static Py_ssize_t
ring_len(Ring *self)
{
    return (Py_ssize_t)(self->next_seq - self->first_seq);
}

static PyObject *
ring_size_bytes(Ring *self, void *closure)
{
    (void)closure;
    return PyLong_FromLongLong((long long)(self->tail - self->head));
}

static PyObject *
ring_next_seq(Ring *self, void *closure)
{
    (void)closure;
    return PyLong_FromLongLong(self->next_seq);
}

static PyMethodDef ring_methods[] = {
    {"append", (PyCFunction)ring_append, METH_O,
     "append(record) -> seq: store a record, evicting the oldest as needed."},
    {"record", (PyCFunction)(void (*)(void))ring_record, METH_FASTCALL,
     "record(conn, kind, t0, message, limit, skip) -> seq | None: encode and store an event."},
    {"_since", (PyCFunction)(void (*)(void))ring_since, METH_VARARGS | METH_KEYWORDS,
     "_since(seq, limit=None) -> (first_seq, records, missed)"},
    {"_marshalled", (PyCFunction)ring_marshalled, METH_VARARGS,
     "_marshalled(seq, limit, max_bytes) -> (first_seq, count, marshal.dumps(records, 2), missed)"},
    {"_framed", (PyCFunction)ring_framed, METH_VARARGS,
     "_framed(seq, limit, max_bytes, head) -> (first_seq, count, bytearray, missed)"},
    {"clear", (PyCFunction)ring_clear, METH_NOARGS,
     "Forget every record (counted neither as dropped nor as missed by readers)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ring_members[] = {
    {"capacity", Py_T_PYSSIZET, offsetof(Ring, capacity), Py_READONLY, "records at most"},
    {"max_bytes", Py_T_PYSSIZET, offsetof(Ring, max_bytes), Py_READONLY, "bytes at most"},
    {"first_seq", Py_T_LONGLONG, offsetof(Ring, first_seq), Py_READONLY,
     "seq of the oldest record"},
    {"dropped", Py_T_LONGLONG, offsetof(Ring, dropped), Py_READONLY, "records evicted"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ring_getset[] = {
    {"size_bytes", (getter)ring_size_bytes, NULL, "bytes held", NULL},
    {"next_seq", (getter)ring_next_seq, NULL, "the seq the next record will get", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods ring_as_sequence = {
    .sq_length = (lenfunc)ring_len,
};

static PyTypeObject RingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = ENCODER_MODULE ".Ring",
    .tp_basicsize = sizeof(Ring),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Event records back to back in one arena, bounded by count and bytes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ring_init,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_methods = ring_methods,
    .tp_members = ring_members,
    .tp_getset = ring_getset,
    .tp_as_sequence = &ring_as_sequence,
};

static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "encode(conn, kind, t0, message, limit, skip) -> bytes | None"},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(first_seq, records, event_type, slow, clean_exit) -> [event_type]"},
    {"header_pairs", (PyCFunction)header_pairs, METH_O,
     "header_pairs(value) -> list | None: a copy of a list or tuple of (bytes, bytes) tuples"},
    {NULL, NULL, 0, NULL},
};

/* Multi-phase init (PEP 489): the exec slot fills the module; the type and the reader's
 * cache stay static, which the slots declare (see _encoder_api.h). */
static int
encoder_exec(PyObject *module)
{
    if (perf_counter == NULL) {
        PyObject *time_module = PyImport_ImportModule("time");
        if (time_module == NULL)
            return -1;
        perf_counter = PyObject_GetAttrString(time_module, "perf_counter");
        Py_DECREF(time_module);
        if (perf_counter == NULL)
            return -1;
    }
    if (PyType_Ready(&RingType) < 0 ||
        PyModule_AddObjectRef(module, "Ring", (PyObject *)&RingType) < 0)
        return -1;
    static EncoderAPI api;
    api.ring_type = &RingType;
    api.ring_record = (void *)ring_record;
    api.record = ring_store_event;
    PyObject *capsule = PyCapsule_New(&api, ENCODER_API_NAME, NULL);
    if (capsule == NULL)
        return -1;
    int added = PyModule_AddObjectRef(module, "_API", capsule);
    Py_DECREF(capsule);
    return added;
}

static PyModuleDef_Slot encoder_slots[] = {
    {Py_mod_exec, (void *)encoder_exec},
    INSPECTOR_SLOT_INTERPRETERS
    INSPECTOR_SLOT_GIL
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = ENCODER_MODULE,
    .m_doc = "Event records as marshal format 2, written and read in C for the capture hot path.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = encoder_slots,
};

PyMODINIT_FUNC
PyInit__encoder(void)
{
    return PyModuleDef_Init(&module_def);
}
