/* What inspector.events._encoder offers inspector.capture._hooks in C (the capsule
 * inspector.events._encoder._API): recording into a Ring without a Python call. Also the names
 * both modules go by, and the CPython API differences between the versions they build on. */
#ifndef INSPECTOR_ENCODER_API_H
#define INSPECTOR_ENCODER_API_H

/* The one place the two extensions' import names are spelled. */
#define ENCODER_MODULE "inspector.events._encoder"
#define HOOKS_MODULE "inspector.capture._hooks"
#define ENCODER_API_NAME ENCODER_MODULE "._API"

#define ENCODER_UNSUPPORTED 1

typedef struct {
    PyTypeObject *ring_type;
    void *ring_record;   /* Ring.record's C function: a bound one is recognised by it */
    /* record(ring, conn, kind, t0, message, limit, skip, seq): 0 stored (its seq in *seq
     * unless seq is NULL), ENCODER_UNSUPPORTED (the caller's slow path records it), or -1
     * with an error set. `limit` < 0: none; `skip`: a tuple of top-level keys to leave
     * out, or NULL. */
    int (*record)(PyObject *ring, PyObject *conn, PyObject *kind, double t0,
                  PyObject *message, Py_ssize_t limit, PyObject *skip, long long *seq);
} EncoderAPI;

/* Member types: Python.h names them from 3.12 on (structmember.h's are deprecated). */
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_T_LONGLONG T_LONGLONG
#define Py_READONLY READONLY
#endif

/* The module slots both declare. Both keep their types and caches in static storage, so
 * one interpreter per process may load them; and both rely on the GIL (the ring, the
 * reader's cache and the hooks' state are unsynchronised): a free-threaded build keeps
 * the GIL on while they are loaded. */
#if PY_VERSION_HEX >= 0x030C0000
#define INSPECTOR_SLOT_INTERPRETERS \
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#else
#define INSPECTOR_SLOT_INTERPRETERS
#endif
#ifdef Py_mod_gil
#define INSPECTOR_SLOT_GIL {Py_mod_gil, Py_MOD_GIL_USED},
#else
#define INSPECTOR_SLOT_GIL
#endif

#endif
