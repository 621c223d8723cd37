/* What inspector.events._encoder offers inspector.capture._hooks in C (the capsule
 * inspector.events._encoder._API): recording into a Ring without a Python call. */
#ifndef INSPECTOR_ENCODER_API_H
#define INSPECTOR_ENCODER_API_H

#define ENCODER_API_NAME "inspector.events._encoder._API"
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

#endif
