/* The receive() and send() the middleware hands the app, in C.
 *
 * Why: in a live server an `async def` wrapper around receive() cost 5-7% of a POST
 * echo's throughput, and each Python frame on the send path a little more. These hooks
 * add no Python frame: send(message) records the message and returns the server's own
 * send(message) awaitable; receive() returns an awaitable that drives the server's own
 * receive() and records the message it returns. That awaitable has send/throw/close and
 * __await__, so asyncio (create_task, ensure_future, iscoroutine) takes it as a
 * coroutine, as it took the server's.
 *
 * Capture(recorder, scope_skip), one per recorder, holds how to record: the ring's
 * record(conn, kind, t0, message, limit, skip) (called in C, through inspector.events._encoder's
 * capsule, when it is a Ring's own), and where that answers None, the recorder's Python
 * paths (message_slow, open_slow: cut or summarise). An Exception from any of them goes
 * to recorder.failed(exc) and never to the app.
 *
 * capture.hooks(conn, receive, send) -> (receive_hook, send_hook), per connection.
 * capture.call(app, scope, receive, send) -> the middleware's whole call for one
 * connection as an awaitable: records the scope, hands the app the hooks, drives the
 * app's coroutine and records how it ended (an exception goes to recorder.exit(conn,
 * exc) and on to the server unchanged).
 *
 * Middleware, InspectorMiddleware's base: its __call__, which hands a captured call to
 * capture.call with no Python frame in between (see "the middleware" below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#include "../events/_encoder_api.h"

static EncoderAPI *encoder;   /* from inspector.events._encoder's capsule */

typedef struct {
    PyObject_HEAD
    PyObject *record, *slow, *open_slow, *exit, *failed, *t0, *limit, *counter, *skip;
    PyObject *ring;            /* record's Ring, when record is Ring.record: called in C */
    double t0_value;
    Py_ssize_t limit_value;
    int ready;                 /* __init__ succeeded: the fields above are all set */
} Capture;

typedef struct {
    PyObject_HEAD
    Capture *capture;
    PyObject *conn, *kind, *inner;
    vectorcallfunc vectorcall;
} Hook;

typedef struct {
    PyObject_HEAD
    PyObject *iter;           /* the server's receive() awaitable, as an iterator */
    Hook *hook;
    int running;              /* a step is under way: re-entry is refused, as a coroutine's */
} Receiving;

typedef struct {
    PyObject_HEAD
    Capture *capture;
    PyObject *app, *scope, *receive, *send;   /* until started */
    PyObject *conn;
    PyObject *iter;                           /* the app's coroutine, while it runs */
    int state;                                /* CALL_NEW, CALL_RUNNING, CALL_DONE */
    int running;                              /* a step is under way (see refuse_reentry) */
} Calling;

enum { CALL_NEW, CALL_RUNNING, CALL_DONE };

static PyTypeObject CaptureType, SendHookType, ReceiveHookType, ReceivingType, CallingType,
    MiddlewareType;
static PyObject *receive_kind, *send_kind, *scope_kind, *exit_kind, *minus_one;

static int report_failure(Capture *c);

/* Record one occurrence: the ring's record(), and where it answers None, the Python
 * path slow(conn, [kind,] message). `limited`: the body limit applies (messages), else
 * none (scope, exit). Never raises an Exception (BaseExceptions pass, as in Python). */
static int
capture_record(Capture *c, PyObject *conn, PyObject *kind, PyObject *message, int limited,
               PyObject *skip, PyObject *slow)
{
    PyObject *result;
    if (c->ring != NULL) {
        int rc = encoder->record(c->ring, conn, kind, c->t0_value, message,
                                 limited ? c->limit_value : -1, skip == Py_None ? NULL : skip,
                                 NULL);
        if (rc == 0)
            return 0;
        result = rc < 0 ? NULL : Py_NewRef(Py_None);
    } else {
        PyObject *args[6] = {conn, kind, c->t0, message, limited ? c->limit : minus_one, skip};
        result = PyObject_Vectorcall(c->record, args, 6, NULL);
    }
    if (result == Py_None && slow != NULL) {
        Py_DECREF(result);
        if (slow == c->slow) {
            PyObject *slow_args[3] = {conn, kind, message};
            result = PyObject_Vectorcall(slow, slow_args, 3, NULL);
        } else {
            PyObject *slow_args[2] = {conn, message};
            result = PyObject_Vectorcall(slow, slow_args, 2, NULL);
        }
    }
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    return report_failure(c);
}

static int
hook_record(Hook *h, PyObject *message)
{
    Capture *c = h->capture;
    return capture_record(c, h->conn, h->kind, message, 1, Py_None, c->slow);
}

/* The exception being raised, as one object with its traceback, and the error indicator
 * cleared (PyErr_GetRaisedException from 3.12 on); NULL if none is set. */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value != NULL && traceback != NULL)
        PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

/* Raise `exc` (a reference stolen) again, as it was taken. */
static void
restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    if (exc == NULL)
        return;
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* The current exception, if an Exception, goes to recorder.failed() and is cleared. */
static int
report_failure(Capture *c)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyObject *exc = take_exception();
    PyObject *reported = PyObject_CallOneArg(c->failed, exc ? exc : Py_None);
    if (reported == NULL)
        PyErr_Clear();
    Py_XDECREF(reported);
    Py_XDECREF(exc);
    return 0;
}

/* A step into an awaitable of ours that is already taking one (its own send(), throw()
 * or close() called from inside the code it drives): refused with the ValueError a
 * coroutine raises, and nothing of its state touched. */
static int
refuse_reentry(int running)
{
    if (!running)
        return 0;
    PyErr_SetString(PyExc_ValueError, "coroutine already executing");
    return -1;
}

/* ------------------------------------------------------------------ hooks */

static int
hook_traverse(Hook *self, visitproc visit, void *arg)
{
    Py_VISIT(self->capture);
    Py_VISIT(self->conn);
    Py_VISIT(self->inner);
    return 0;
}

static int
hook_clear(Hook *self)
{
    Py_CLEAR(self->capture);
    Py_CLEAR(self->conn);
    Py_CLEAR(self->kind);
    Py_CLEAR(self->inner);
    return 0;
}

static void
hook_dealloc(Hook *self)
{
    PyObject_GC_UnTrack(self);
    hook_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
send_hook_call(Hook *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "send() takes one message");
        return NULL;
    }
    if (hook_record(self, args[0]) < 0)
        return NULL;
    return PyObject_Vectorcall(self->inner, args, 1, NULL);
}

/* What `await awaitable` iterates; steals the reference; NULL with an error set. */
static PyObject *
await_iter(PyObject *awaitable, const char *what)
{
    if (awaitable == NULL || PyCoro_CheckExact(awaitable))
        return awaitable;
    unaryfunc await = Py_TYPE(awaitable)->tp_as_async ? Py_TYPE(awaitable)->tp_as_async->am_await
                                                      : NULL;
    if (await == NULL) {
        PyErr_Format(PyExc_TypeError, "%s returned %.100s, which is not awaitable", what,
                     Py_TYPE(awaitable)->tp_name);
        Py_DECREF(awaitable);
        return NULL;
    }
    PyObject *iter = await(awaitable);
    Py_DECREF(awaitable);
    return iter;
}

/* throw(exc) on an awaitable that is not running: raise exc, as a coroutine would. */
static PyObject *
raise_thrown(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 1 && PyExceptionInstance_Check(args[0])) {
        PyErr_SetObject((PyObject *)Py_TYPE(args[0]), args[0]);
    } else if (nargs >= 1) {
        PyErr_SetObject(args[0], nargs >= 2 ? args[1] : Py_None);
    } else {
        PyErr_SetString(PyExc_TypeError, "throw expected at least 1 argument");
    }
    return NULL;
}

/* The value of the StopIteration being raised, which is cleared; NULL on error. */
static PyObject *
take_stop_value(void)
{
    PyObject *exc = take_exception();
    PyObject *value = exc ? PyObject_GetAttrString(exc, "value") : Py_NewRef(Py_None);
    Py_XDECREF(exc);
    return value;
}

/* Throw into a running awaitable's iterator, answering as PyIter_Send does: PYGEN_NEXT
 * with what it yields, PYGEN_RETURN with what it returns, or PYGEN_ERROR. An iterator
 * without throw() gets the exception where it is awaited, as `await` does. */
static PySendResult
iter_throw(PyObject *iter, PyObject *const *args, Py_ssize_t nargs, PyObject **result)
{
    *result = NULL;
    PyObject *throw = PyObject_GetAttrString(iter, "throw");
    if (throw == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            raise_thrown(args, nargs);
        }
        return PYGEN_ERROR;
    }
    *result = PyObject_Vectorcall(throw, args, nargs, NULL);
    Py_DECREF(throw);
    if (*result != NULL)
        return PYGEN_NEXT;
    if (!PyErr_ExceptionMatches(PyExc_StopIteration))
        return PYGEN_ERROR;
    *result = take_stop_value();
    return *result == NULL ? PYGEN_ERROR : PYGEN_RETURN;
}

/* close() a running awaitable's iterator, if it has close(); -1 with the error it raised. */
static int
iter_close(PyObject *iter)
{
    PyObject *close = PyObject_GetAttrString(iter, "close");
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    PyObject *closed = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (closed == NULL)
        return -1;
    Py_DECREF(closed);
    return 0;
}

static PyObject *
receive_hook_call(Hook *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)args;
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "receive() takes no arguments");
        return NULL;
    }
    PyObject *iter = await_iter(PyObject_CallNoArgs(self->inner), "receive()");
    if (iter == NULL)
        return NULL;
    Receiving *receiving = PyObject_GC_New(Receiving, &ReceivingType);
    if (receiving == NULL) {
        Py_DECREF(iter);
        return NULL;
    }
    receiving->iter = iter;
    receiving->hook = (Hook *)Py_NewRef(self);
    receiving->running = 0;
    PyObject_GC_Track(receiving);
    return (PyObject *)receiving;
}

static Hook *
new_hook(PyTypeObject *type, Capture *capture, PyObject *conn, PyObject *kind, PyObject *inner,
         vectorcallfunc call)
{
    Hook *hook = PyObject_GC_New(Hook, type);
    if (hook == NULL)
        return NULL;
    hook->capture = (Capture *)Py_NewRef(capture);
    hook->conn = Py_NewRef(conn);
    hook->kind = Py_NewRef(kind);
    hook->inner = Py_NewRef(inner);
    hook->vectorcall = call;
    PyObject_GC_Track(hook);
    return hook;
}

/* ------------------------------------------------------------------ capture */

/* A Capture made by Capture.__new__ without a successful __init__ has nothing to record
 * with: refuse to make hooks from it. */
static int
capture_check_ready(Capture *self)
{
    if (self->ready)
        return 0;
    PyErr_SetString(PyExc_ValueError, "Capture.__init__ was not called, or failed");
    return -1;
}

static PyObject *
capture_hooks(Capture *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "hooks(conn, receive, send)");
        return NULL;
    }
    if (capture_check_ready(self) < 0)
        return NULL;
    Hook *receive = new_hook(&ReceiveHookType, self, args[0], receive_kind, args[1],
                             (vectorcallfunc)receive_hook_call);
    if (receive == NULL)
        return NULL;
    Hook *send = new_hook(&SendHookType, self, args[0], send_kind, args[2],
                          (vectorcallfunc)send_hook_call);
    if (send == NULL) {
        Py_DECREF(receive);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, (PyObject *)receive, (PyObject *)send);
    Py_DECREF(receive);
    Py_DECREF(send);
    return pair;
}

static PyObject *
capture_call(Capture *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "call(app, scope, receive, send)");
        return NULL;
    }
    if (capture_check_ready(self) < 0)
        return NULL;
    Calling *calling = PyObject_GC_New(Calling, &CallingType);
    if (calling == NULL)
        return NULL;
    calling->capture = (Capture *)Py_NewRef(self);
    calling->app = Py_NewRef(args[0]);
    calling->scope = Py_NewRef(args[1]);
    calling->receive = Py_NewRef(args[2]);
    calling->send = Py_NewRef(args[3]);
    calling->conn = NULL;
    calling->iter = NULL;
    calling->state = CALL_NEW;
    calling->running = 0;
    PyObject_GC_Track(calling);
    return (PyObject *)calling;
}

static int
get_attr(PyObject *recorder, const char *name, PyObject **slot)
{
    PyObject *value = PyObject_GetAttrString(recorder, name);
    if (value == NULL)
        return -1;
    Py_XSETREF(*slot, value);
    return 0;
}

static int
capture_init(Capture *self, PyObject *args, PyObject *kwargs)
{
    (void)kwargs;
    PyObject *recorder, *skip;
    self->ready = 0;
    if (!PyArg_ParseTuple(args, "OO!:Capture", &recorder, &PyTuple_Type, &skip))
        return -1;
    if (get_attr(recorder, "record_event", &self->record) < 0 ||
        get_attr(recorder, "message_slow", &self->slow) < 0 ||
        get_attr(recorder, "open_slow", &self->open_slow) < 0 ||
        get_attr(recorder, "exit", &self->exit) < 0 ||
        get_attr(recorder, "failed", &self->failed) < 0 ||
        get_attr(recorder, "t0", &self->t0) < 0 ||
        get_attr(recorder, "_body_limit", &self->limit) < 0 ||
        get_attr(recorder, "_conn_ids", &self->counter) < 0)
        return -1;
    if (!PyFloat_Check(self->t0) || !PyLong_Check(self->limit) || !PyIter_Check(self->counter)) {
        PyErr_SetString(PyExc_TypeError, "Capture: t0 must be a float, the body limit an int, "
                                         "the connection ids an iterator");
        return -1;
    }
    Py_XSETREF(self->skip, Py_NewRef(skip));
    self->t0_value = PyFloat_AsDouble(self->t0);
    self->limit_value = PyLong_AsSsize_t(self->limit);
    if (self->limit_value == -1 && PyErr_Occurred())
        return -1;
    /* Ring.record, bound to a Ring: call it in C. Anything else (a replaced record_event)
     * is called as it is. */
    Py_CLEAR(self->ring);
    if (PyCFunction_Check(self->record) &&
        (void *)PyCFunction_GET_FUNCTION(self->record) == encoder->ring_record) {
        PyObject *owner = PyCFunction_GET_SELF(self->record);
        if (owner != NULL && PyObject_TypeCheck(owner, encoder->ring_type))
            self->ring = Py_NewRef(owner);
    }
    self->ready = 1;
    return 0;
}

static int
capture_traverse(Capture *self, visitproc visit, void *arg)
{
    Py_VISIT(self->record);
    Py_VISIT(self->slow);
    Py_VISIT(self->open_slow);
    Py_VISIT(self->exit);
    Py_VISIT(self->failed);
    Py_VISIT(self->counter);
    Py_VISIT(self->ring);
    return 0;
}

static int
capture_clear(Capture *self)
{
    Py_CLEAR(self->record);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->open_slow);
    Py_CLEAR(self->exit);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->t0);
    Py_CLEAR(self->limit);
    Py_CLEAR(self->counter);
    Py_CLEAR(self->skip);
    Py_CLEAR(self->ring);
    return 0;
}

static void
capture_dealloc(Capture *self)
{
    PyObject_GC_UnTrack(self);
    capture_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef capture_methods[] = {
    {"hooks", (PyCFunction)(void (*)(void))capture_hooks, METH_FASTCALL,
     "hooks(conn, receive, send) -> (receive, send): what the app is given"},
    {"call", (PyCFunction)(void (*)(void))capture_call, METH_FASTCALL,
     "call(app, scope, receive, send) -> awaitable: one captured connection"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CaptureType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".Capture",
    .tp_basicsize = sizeof(Capture),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Capture(recorder, scope_skip): how a recorder's hooks record.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)capture_init,
    .tp_traverse = (traverseproc)capture_traverse,
    .tp_clear = (inquiry)capture_clear,
    .tp_dealloc = (destructor)capture_dealloc,
    .tp_methods = capture_methods,
};

/* ------------------------------------------------------------------ receiving */

static int
receiving_traverse(Receiving *self, visitproc visit, void *arg)
{
    Py_VISIT(self->iter);
    Py_VISIT(self->hook);
    return 0;
}

static int
receiving_clear(Receiving *self)
{
    Py_CLEAR(self->iter);
    Py_CLEAR(self->hook);
    return 0;
}

static void
receiving_dealloc(Receiving *self)
{
    PyObject_GC_UnTrack(self);
    receiving_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* After the server's receive() took a step (sent or thrown into): record the message it
 * returned; once it is finished, let it go. */
static PySendResult
receiving_stepped(Receiving *self, PySendResult status, PyObject **result)
{
    if (status == PYGEN_RETURN && hook_record(self->hook, *result) < 0) {
        Py_CLEAR(*result);
        status = PYGEN_ERROR;
    }
    if (status != PYGEN_NEXT)
        Py_CLEAR(self->iter);
    return status;
}

static PySendResult
receiving_am_send(Receiving *self, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (refuse_reentry(self->running) < 0)
        return PYGEN_ERROR;
    if (self->iter == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited receive()");
        return PYGEN_ERROR;
    }
    /* The step holds its own reference: nothing the server's code does frees it. */
    PyObject *iter = Py_NewRef(self->iter);
    self->running = 1;
    PySendResult status = PyIter_Send(iter, arg, result);
    self->running = 0;
    status = receiving_stepped(self, status, result);
    Py_DECREF(iter);
    return status;
}

/* A finished receive(): raise StopIteration carrying the message. */
static PyObject *
stop_with(PyObject *value)
{
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyObject *
step_result(PySendResult status, PyObject *value)
{
    if (status == PYGEN_NEXT)
        return value;
    if (status == PYGEN_RETURN)
        return stop_with(value);
    return NULL;
}

/* send(value) and next() of an awaitable of ours, through its am_send. */
static PyObject *
awaitable_send(PyObject *self, PyObject *arg)
{
    PyObject *value;
    PySendResult status = Py_TYPE(self)->tp_as_async->am_send(self, arg, &value);
    return step_result(status, value);
}

static PyObject *
awaitable_iternext(PyObject *self)
{
    return awaitable_send(self, Py_None);
}

static PyObject *
awaitable_await(PyObject *self)
{
    return Py_NewRef(self);
}

static PyObject *
receiving_throw(Receiving *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (refuse_reentry(self->running) < 0)
        return NULL;
    if (self->iter == NULL) {
        /* Finished or never started: raise what was thrown, as a coroutine would. */
        return raise_thrown(args, nargs);
    }
    /* The server's receive() may catch what was thrown and return a message. */
    PyObject *value, *iter = Py_NewRef(self->iter);
    self->running = 1;
    PySendResult status = iter_throw(iter, args, nargs, &value);
    self->running = 0;
    status = receiving_stepped(self, status, &value);
    Py_DECREF(iter);
    return step_result(status, value);
}

static PyObject *
receiving_close(Receiving *self, PyObject *unused)
{
    (void)unused;
    if (refuse_reentry(self->running) < 0)
        return NULL;
    if (self->iter == NULL)
        Py_RETURN_NONE;
    PyObject *iter = self->iter;
    self->iter = NULL;
    self->running = 1;
    int closed = iter_close(iter);
    self->running = 0;
    Py_DECREF(iter);
    if (closed < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef receiving_methods[] = {
    {"send", (PyCFunction)awaitable_send, METH_O, "send(value): resume the server's receive()"},
    {"throw", (PyCFunction)(void (*)(void))receiving_throw, METH_FASTCALL,
     "throw(exc): raise inside the server's receive()"},
    {"close", (PyCFunction)receiving_close, METH_NOARGS, "close the server's receive()"},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods receiving_async = {
    .am_await = (unaryfunc)awaitable_await,
    .am_send = (sendfunc)receiving_am_send,
};

static PyTypeObject ReceivingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".Receiving",
    .tp_basicsize = sizeof(Receiving),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The server's receive() in progress; records the message it returns.",
    .tp_traverse = (traverseproc)receiving_traverse,
    .tp_clear = (inquiry)receiving_clear,
    .tp_dealloc = (destructor)receiving_dealloc,
    .tp_as_async = &receiving_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)awaitable_iternext,
    .tp_methods = receiving_methods,
};

/* ------------------------------------------------------------------ calling */

static int
calling_traverse(Calling *self, visitproc visit, void *arg)
{
    Py_VISIT(self->capture);
    Py_VISIT(self->app);
    Py_VISIT(self->scope);
    Py_VISIT(self->receive);
    Py_VISIT(self->send);
    Py_VISIT(self->conn);
    Py_VISIT(self->iter);
    return 0;
}

static void
calling_drop_arguments(Calling *self)
{
    Py_CLEAR(self->app);
    Py_CLEAR(self->scope);
    Py_CLEAR(self->receive);
    Py_CLEAR(self->send);
}

static int
calling_clear(Calling *self)
{
    calling_drop_arguments(self);
    Py_CLEAR(self->capture);
    Py_CLEAR(self->conn);
    Py_CLEAR(self->iter);
    return 0;
}

static void
calling_dealloc(Calling *self)
{
    PyObject_GC_UnTrack(self);
    calling_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Record the scope, give the app the hooks, call it. 0: running; -1: failed before the
 * app was called; -2: the app's call raised (the exit is still to be recorded). */
static int
calling_start(Calling *self)
{
    Capture *c = self->capture;
    self->conn = PyIter_Next(c->counter);
    if (self->conn == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "connection ids ran out");
        return -1;
    }
    if (capture_record(c, self->conn, scope_kind, self->scope, 0, c->skip,
                       c->open_slow) < 0)
        return -1;
    Hook *receive = new_hook(&ReceiveHookType, c, self->conn, receive_kind, self->receive,
                             (vectorcallfunc)receive_hook_call);
    Hook *send = receive == NULL ? NULL
                                 : new_hook(&SendHookType, c, self->conn, send_kind, self->send,
                                            (vectorcallfunc)send_hook_call);
    if (send == NULL) {
        Py_XDECREF(receive);
        return -1;
    }
    PyObject *args[3] = {self->scope, (PyObject *)receive, (PyObject *)send};
    PyObject *awaitable = PyObject_Vectorcall(self->app, args, 3, NULL);
    Py_DECREF(receive);
    Py_DECREF(send);
    calling_drop_arguments(self);
    self->iter = await_iter(awaitable, "the app");
    if (self->iter == NULL)
        return -2;
    self->state = CALL_RUNNING;
    return 0;
}

/* The app's coroutine returned (PYGEN_RETURN, *result its value) or raised (PYGEN_ERROR,
 * the exception set): record the exit and pass the outcome on unchanged. */
static PySendResult
calling_finish(Calling *self, PySendResult status, PyObject **result)
{
    Capture *c = self->capture;
    Py_CLEAR(self->iter);
    self->state = CALL_DONE;
    if (status == PYGEN_RETURN) {
        if (capture_record(c, self->conn, exit_kind, Py_None, 0, Py_None, NULL) < 0) {
            Py_CLEAR(*result);
            return PYGEN_ERROR;
        }
        return PYGEN_RETURN;
    }
    *result = NULL;
    PyObject *exc = take_exception();
    PyObject *args[2] = {self->conn, exc ? exc : Py_None};
    PyObject *recorded = PyObject_Vectorcall(c->exit, args, 2, NULL);
    if (recorded == NULL && report_failure(c) < 0)
        PyErr_Clear();   /* a BaseException from the recorder: the app's own goes on */
    Py_XDECREF(recorded);
    restore_exception(exc);
    return PYGEN_ERROR;
}

static PySendResult
calling_am_send(Calling *self, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (refuse_reentry(self->running) < 0)
        return PYGEN_ERROR;
    if (self->state == CALL_DONE) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (self->state == CALL_NEW) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started coroutine");
            return PYGEN_ERROR;
        }
        self->running = 1;           /* the app's own call is part of the first step */
        int started = calling_start(self);
        self->running = 0;
        if (started == -1) {
            self->state = CALL_DONE;
            calling_drop_arguments(self);
            return PYGEN_ERROR;
        }
        if (started == -2)
            return calling_finish(self, PYGEN_ERROR, result);
    }
    /* The step holds its own reference to the app's coroutine: nothing the app does
     * (such as calling this object's send() from inside) frees it while it runs. */
    PyObject *iter = Py_NewRef(self->iter);
    self->running = 1;
    PySendResult status = PyIter_Send(iter, arg, result);
    self->running = 0;
    if (status != PYGEN_NEXT)
        status = calling_finish(self, status, result);
    Py_DECREF(iter);
    return status;
}

static PyObject *
calling_throw(Calling *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (refuse_reentry(self->running) < 0)
        return NULL;
    if (self->state != CALL_RUNNING) {
        self->state = CALL_DONE;
        calling_drop_arguments(self);
        return raise_thrown(args, nargs);
    }
    /* The app may catch what was thrown and go on, or return. */
    PyObject *result, *iter = Py_NewRef(self->iter);
    self->running = 1;
    PySendResult status = iter_throw(iter, args, nargs, &result);
    self->running = 0;
    if (status != PYGEN_NEXT)
        status = calling_finish(self, status, &result);
    Py_DECREF(iter);
    return step_result(status, result);
}

static PyObject *
calling_close(Calling *self, PyObject *unused)
{
    (void)unused;
    if (refuse_reentry(self->running) < 0)
        return NULL;
    if (self->state != CALL_RUNNING) {
        self->state = CALL_DONE;
        calling_drop_arguments(self);
        Py_RETURN_NONE;
    }
    PyObject *result = NULL, *iter = Py_NewRef(self->iter);
    self->running = 1;
    int closed = iter_close(iter);
    self->running = 0;
    if (closed < 0) {                   /* e.g. the app ignored GeneratorExit */
        calling_finish(self, PYGEN_ERROR, &result);
        Py_DECREF(iter);
        return NULL;
    }
    /* As an `async def` middleware closed at its await: the exit is GeneratorExit. */
    PyErr_SetNone(PyExc_GeneratorExit);
    calling_finish(self, PYGEN_ERROR, &result);
    PyErr_Clear();
    Py_DECREF(iter);
    Py_RETURN_NONE;
}

static PyMethodDef calling_methods[] = {
    {"send", (PyCFunction)awaitable_send, METH_O, "send(value): resume the app"},
    {"throw", (PyCFunction)(void (*)(void))calling_throw, METH_FASTCALL,
     "throw(exc): raise inside the app"},
    {"close", (PyCFunction)calling_close, METH_NOARGS, "close the app's coroutine"},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods calling_async = {
    .am_await = (unaryfunc)awaitable_await,
    .am_send = (sendfunc)calling_am_send,
};

static PyTypeObject CallingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".Calling",
    .tp_basicsize = sizeof(Calling),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The app's call for one captured connection, recording its scope and exit.",
    .tp_traverse = (traverseproc)calling_traverse,
    .tp_clear = (inquiry)calling_clear,
    .tp_dealloc = (destructor)calling_dealloc,
    .tp_as_async = &calling_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)awaitable_iternext,
    .tp_methods = calling_methods,
};

static PyTypeObject SendHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".SendHook",
    .tp_basicsize = sizeof(Hook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "send(message): record it, then the server's send(message).",
    .tp_vectorcall_offset = offsetof(Hook, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = (traverseproc)hook_traverse,
    .tp_clear = (inquiry)hook_clear,
    .tp_dealloc = (destructor)hook_dealloc,
};

static PyTypeObject ReceiveHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".ReceiveHook",
    .tp_basicsize = sizeof(Hook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "receive(): the server's receive(), recording the message it returns.",
    .tp_vectorcall_offset = offsetof(Hook, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = (traverseproc)hook_traverse,
    .tp_clear = (inquiry)hook_clear,
    .tp_dealloc = (destructor)hook_dealloc,
};

/* ------------------------------------------------------------------ the middleware
 *
 * Middleware: the base of InspectorMiddleware, whose call is here. Why: an `async def
 * __call__` that only chose a path and awaited recorder.call cost a quarter of what the
 * whole capture added to a request (its coroutine, its frame, and one more level that
 * every send of the app's coroutine passes through). A captured http or websocket call
 * returns recorder.call(app, scope, receive, send) itself; anything else (lifespan, an
 * excluded path, another scope type, a publisher to start, odd arguments) goes to the
 * Python method `_dispatch`, which is the whole rule.
 */

typedef struct {
    PyObject_HEAD
    PyObject *app, *recorder, *exclude_paths;
    PyObject *pid_cell;            /* [this process's pid], kept current across fork */
    PyObject *publisher_pid;       /* the pid the publisher was started in, or None */
} Middleware;

static PyObject *type_key, *path_key, *http_type, *websocket_type, *call_name, *dispatch_name;

static int
is_str(PyObject *o, PyObject *interned)
{
    if (o == interned)
        return 1;
    return PyUnicode_CheckExact(o) && !PyUnicode_CHECK_INTERNED(o) &&
           PyUnicode_Compare(o, interned) == 0;
}

/* 1: the fast path may take this call; 0: leave it to _dispatch; -1: error. */
static int
middleware_fast(Middleware *self, PyObject *scope)
{
    if (!PyDict_CheckExact(scope))
        return 0;
    PyObject *type = PyDict_GetItemWithError(scope, type_key);
    if (type == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!is_str(type, http_type) && !is_str(type, websocket_type))
        return 0;
    PyObject *excluded = self->exclude_paths;
    if (excluded == NULL || !PyAnySet_Check(excluded))
        return 0;
    if (PySet_GET_SIZE(excluded) > 0) {
        PyObject *path = PyDict_GetItemWithError(scope, path_key);
        if (path == NULL && PyErr_Occurred())
            return -1;
        if (path != NULL && PyUnicode_Check(path)) {   /* only a str path is excluded */
            int is_excluded = PySet_Contains(excluded, path);
            if (is_excluded != 0)
                return is_excluded < 0 ? -1 : 0;
        }
    }
    if (self->pid_cell == NULL || !PyList_CheckExact(self->pid_cell) ||
        PyList_GET_SIZE(self->pid_cell) < 1 || self->publisher_pid == NULL)
        return 0;
    PyObject *pid = PyList_GET_ITEM(self->pid_cell, 0);
    if (pid != self->publisher_pid) {
        int same = PyObject_RichCompareBool(pid, self->publisher_pid, Py_EQ);
        if (same <= 0)
            return same;
    }
    return 1;
}

static PyObject *
middleware_call(Middleware *self, PyObject *args, PyObject *kwargs)
{
    if (kwargs == NULL && PyTuple_GET_SIZE(args) == 3 && self->app != NULL &&
        self->recorder != NULL) {
        int fast = middleware_fast(self, PyTuple_GET_ITEM(args, 0));
        if (fast < 0)
            return NULL;
        if (fast) {
            PyObject *call = PyObject_GetAttr(self->recorder, call_name);
            if (call == NULL)
                return NULL;
            if (call != Py_None) {
                PyObject *call_args[4] = {self->app, PyTuple_GET_ITEM(args, 0),
                                          PyTuple_GET_ITEM(args, 1), PyTuple_GET_ITEM(args, 2)};
                PyObject *calling = PyObject_Vectorcall(call, call_args, 4, NULL);
                Py_DECREF(call);
                return calling;
            }
            Py_DECREF(call);
        }
    }
    PyObject *dispatch = PyObject_GetAttr((PyObject *)self, dispatch_name);
    if (dispatch == NULL)
        return NULL;
    PyObject *result = PyObject_Call(dispatch, args, kwargs);
    Py_DECREF(dispatch);
    return result;
}

static int
middleware_traverse(Middleware *self, visitproc visit, void *arg)
{
    Py_VISIT(self->app);
    Py_VISIT(self->recorder);
    Py_VISIT(self->exclude_paths);
    Py_VISIT(self->pid_cell);
    Py_VISIT(self->publisher_pid);
    return 0;
}

static int
middleware_clear(Middleware *self)
{
    Py_CLEAR(self->app);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->exclude_paths);
    Py_CLEAR(self->pid_cell);
    Py_CLEAR(self->publisher_pid);
    return 0;
}

static void
middleware_dealloc(Middleware *self)
{
    PyObject_GC_UnTrack(self);
    middleware_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef middleware_members[] = {
    {"app", Py_T_OBJECT_EX, offsetof(Middleware, app), 0, "the wrapped ASGI app"},
    {"recorder", Py_T_OBJECT_EX, offsetof(Middleware, recorder), 0, "the capture's Recorder"},
    {"exclude_paths", Py_T_OBJECT_EX, offsetof(Middleware, exclude_paths), 0,
     "paths passed through uncaptured (a frozenset)"},
    {"_pid_cell", Py_T_OBJECT_EX, offsetof(Middleware, pid_cell), 0,
     "a list holding this process's pid"},
    {"_publisher_pid", Py_T_OBJECT_EX, offsetof(Middleware, publisher_pid), 0,
     "the pid the publisher was started in (None: not yet)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject MiddlewareType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = HOOKS_MODULE ".Middleware",
    .tp_basicsize = sizeof(Middleware),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The base of InspectorMiddleware: its __call__, in C.",
    .tp_new = PyType_GenericNew,
    .tp_call = (ternaryfunc)middleware_call,
    .tp_traverse = (traverseproc)middleware_traverse,
    .tp_clear = (inquiry)middleware_clear,
    .tp_dealloc = (destructor)middleware_dealloc,
    .tp_members = middleware_members,
};

/* Multi-phase init (PEP 489): the exec slot fills the module. The types and interned
 * names stay static, which the slots declare (see _encoder_api.h). */
static int
intern(PyObject **slot, const char *text)
{
    if (*slot == NULL)
        *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

static int
hooks_exec(PyObject *module)
{
    if (PyType_Ready(&ReceivingType) < 0 || PyType_Ready(&SendHookType) < 0 ||
        PyType_Ready(&ReceiveHookType) < 0 || PyType_Ready(&CallingType) < 0 ||
        PyType_Ready(&CaptureType) < 0 || PyType_Ready(&MiddlewareType) < 0)
        return -1;
    if (intern(&type_key, "type") < 0 || intern(&path_key, "path") < 0 ||
        intern(&http_type, "http") < 0 || intern(&websocket_type, "websocket") < 0 ||
        intern(&call_name, "call") < 0 || intern(&dispatch_name, "_dispatch") < 0 ||
        intern(&receive_kind, "receive") < 0 || intern(&send_kind, "send") < 0 ||
        intern(&scope_kind, "scope") < 0 || intern(&exit_kind, "exit") < 0)
        return -1;
    if (minus_one == NULL && (minus_one = PyLong_FromLong(-1)) == NULL)
        return -1;
    /* The capsule import imports only the top package: import the module first. */
    PyObject *encoder_module = PyImport_ImportModule(ENCODER_MODULE);
    if (encoder_module == NULL)
        return -1;
    Py_DECREF(encoder_module);
    encoder = PyCapsule_Import(ENCODER_API_NAME, 0);
    if (encoder == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "Capture", (PyObject *)&CaptureType) < 0 ||
        PyModule_AddObjectRef(module, "Middleware", (PyObject *)&MiddlewareType) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot hooks_slots[] = {
    {Py_mod_exec, (void *)hooks_exec},
    INSPECTOR_SLOT_INTERPRETERS
    INSPECTOR_SLOT_GIL
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = HOOKS_MODULE,
    .m_doc = "The receive() and send() the middleware hands the app, in C.",
    .m_size = 0,
    .m_slots = hooks_slots,
};

PyMODINIT_FUNC
PyInit__hooks(void)
{
    return PyModuleDef_Init(&module_def);
}
