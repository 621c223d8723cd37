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
 * Capture(record, slow, failed, t0, limit), one per recorder, holds how to record:
 * record(conn, kind, t0, message, limit, None) (the ring's), and where that answers
 * None, slow(conn, kind, message) (the recorder's cut/summarise path). An Exception from
 * either goes to failed(exc) and never to the app.
 *
 * capture.hooks(conn, receive, send) -> (receive_hook, send_hook), per connection.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *record, *slow, *failed, *t0, *limit;
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
} Receiving;

static PyTypeObject CaptureType, SendHookType, ReceiveHookType, ReceivingType;
static PyObject *receive_kind, *send_kind;

/* Record one message; never raises an Exception (BaseExceptions pass, as in Python). */
static int
hook_record(Hook *h, PyObject *message)
{
    Capture *c = h->capture;
    PyObject *args[6] = {h->conn, h->kind, c->t0, message, c->limit, Py_None};
    PyObject *result = PyObject_Vectorcall(c->record, args, 6, NULL);
    if (result == Py_None) {
        Py_DECREF(result);
        PyObject *slow_args[3] = {h->conn, h->kind, message};
        result = PyObject_Vectorcall(c->slow, slow_args, 3, NULL);
    }
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    PyObject *reported = PyObject_CallOneArg(c->failed, value ? value : Py_None);
    if (reported == NULL)
        PyErr_Clear();
    Py_XDECREF(reported);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return 0;
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

static PyObject *
receive_hook_call(Hook *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "receive() takes no arguments");
        return NULL;
    }
    PyObject *awaitable = PyObject_CallNoArgs(self->inner);
    if (awaitable == NULL)
        return NULL;
    PyObject *iter;
    if (PyCoro_CheckExact(awaitable)) {
        iter = awaitable;
    } else {
        unaryfunc await = Py_TYPE(awaitable)->tp_as_async ? Py_TYPE(awaitable)->tp_as_async->am_await
                                                          : NULL;
        if (await == NULL) {
            PyErr_Format(PyExc_TypeError, "receive() returned %.100s, which is not awaitable",
                         Py_TYPE(awaitable)->tp_name);
            Py_DECREF(awaitable);
            return NULL;
        }
        iter = await(awaitable);
        Py_DECREF(awaitable);
        if (iter == NULL)
            return NULL;
    }
    Receiving *receiving = PyObject_GC_New(Receiving, &ReceivingType);
    if (receiving == NULL) {
        Py_DECREF(iter);
        return NULL;
    }
    receiving->iter = iter;
    receiving->hook = (Hook *)Py_NewRef(self);
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

static PyObject *
capture_hooks(Capture *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "hooks(conn, receive, send)");
        return NULL;
    }
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

static int
capture_init(Capture *self, PyObject *args, PyObject *kwargs)
{
    PyObject *record, *slow, *failed, *t0, *limit;
    if (!PyArg_ParseTuple(args, "OOOO!O!:Capture", &record, &slow, &failed, &PyFloat_Type, &t0,
                          &PyLong_Type, &limit))
        return -1;
    Py_XSETREF(self->record, Py_NewRef(record));
    Py_XSETREF(self->slow, Py_NewRef(slow));
    Py_XSETREF(self->failed, Py_NewRef(failed));
    Py_XSETREF(self->t0, Py_NewRef(t0));
    Py_XSETREF(self->limit, Py_NewRef(limit));
    return 0;
}

static int
capture_traverse(Capture *self, visitproc visit, void *arg)
{
    Py_VISIT(self->record);
    Py_VISIT(self->slow);
    Py_VISIT(self->failed);
    return 0;
}

static int
capture_clear(Capture *self)
{
    Py_CLEAR(self->record);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->t0);
    Py_CLEAR(self->limit);
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
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CaptureType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inspector._hooks.Capture",
    .tp_basicsize = sizeof(Capture),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Capture(record, slow, failed, t0, limit): how a recorder's hooks record.",
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

static PySendResult
receiving_am_send(Receiving *self, PyObject *arg, PyObject **result)
{
    if (self->iter == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited receive()");
        *result = NULL;
        return PYGEN_ERROR;
    }
    PySendResult status = PyIter_Send(self->iter, arg, result);
    if (status == PYGEN_RETURN && hook_record(self->hook, *result) < 0) {
        Py_CLEAR(*result);
        return PYGEN_ERROR;
    }
    if (status != PYGEN_NEXT)
        Py_CLEAR(self->iter);
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
receiving_result(PySendResult status, PyObject *value)
{
    if (status == PYGEN_NEXT)
        return value;
    if (status == PYGEN_RETURN)
        return stop_with(value);
    return NULL;
}

static PyObject *
receiving_iternext(Receiving *self)
{
    PyObject *value;
    PySendResult status = receiving_am_send(self, Py_None, &value);
    return receiving_result(status, value);
}

static PyObject *
receiving_send(Receiving *self, PyObject *arg)
{
    PyObject *value;
    PySendResult status = receiving_am_send(self, arg, &value);
    return receiving_result(status, value);
}

static PyObject *
receiving_throw(Receiving *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->iter == NULL) {
        /* Finished or never started: raise what was thrown, as a coroutine would. */
        if (nargs == 1 && PyExceptionInstance_Check(args[0])) {
            PyErr_SetObject((PyObject *)Py_TYPE(args[0]), args[0]);
        } else if (nargs >= 1) {
            PyErr_SetObject(args[0], nargs >= 2 ? args[1] : Py_None);
        } else {
            PyErr_SetString(PyExc_TypeError, "throw expected at least 1 argument");
        }
        return NULL;
    }
    PyObject *throw = PyObject_GetAttrString(self->iter, "throw");
    if (throw == NULL)
        return NULL;
    PyObject *value = PyObject_Vectorcall(throw, args, nargs, NULL);
    Py_DECREF(throw);
    if (value != NULL)
        return value;
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        Py_CLEAR(self->iter);
        return NULL;
    }
    /* The server's receive() caught what was thrown and returned a message. */
    PyObject *type, *exc, *traceback;
    PyErr_Fetch(&type, &exc, &traceback);
    PyErr_NormalizeException(&type, &exc, &traceback);
    PyObject *message = exc ? PyObject_GetAttrString(exc, "value") : Py_NewRef(Py_None);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(traceback);
    Py_CLEAR(self->iter);
    if (message == NULL)
        return NULL;
    if (hook_record(self->hook, message) < 0) {
        Py_DECREF(message);
        return NULL;
    }
    return stop_with(message);
}

static PyObject *
receiving_close(Receiving *self, PyObject *unused)
{
    if (self->iter == NULL)
        Py_RETURN_NONE;
    PyObject *iter = self->iter;
    self->iter = NULL;
    PyObject *close = PyObject_GetAttrString(iter, "close");
    Py_DECREF(iter);
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *result = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return result;
}

static PyObject *
receiving_await(Receiving *self)
{
    return Py_NewRef(self);
}

static PyMethodDef receiving_methods[] = {
    {"send", (PyCFunction)receiving_send, METH_O, "send(value): resume the server's receive()"},
    {"throw", (PyCFunction)(void (*)(void))receiving_throw, METH_FASTCALL,
     "throw(exc): raise inside the server's receive()"},
    {"close", (PyCFunction)receiving_close, METH_NOARGS, "close the server's receive()"},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods receiving_async = {
    .am_await = (unaryfunc)receiving_await,
    .am_send = (sendfunc)receiving_am_send,
};

static PyTypeObject ReceivingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inspector._hooks.Receiving",
    .tp_basicsize = sizeof(Receiving),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The server's receive() in progress; records the message it returns.",
    .tp_traverse = (traverseproc)receiving_traverse,
    .tp_clear = (inquiry)receiving_clear,
    .tp_dealloc = (destructor)receiving_dealloc,
    .tp_as_async = &receiving_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)receiving_iternext,
    .tp_methods = receiving_methods,
};

static PyTypeObject SendHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inspector._hooks.SendHook",
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
    .tp_name = "inspector._hooks.ReceiveHook",
    .tp_basicsize = sizeof(Hook),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "receive(): the server's receive(), recording the message it returns.",
    .tp_vectorcall_offset = offsetof(Hook, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = (traverseproc)hook_traverse,
    .tp_clear = (inquiry)hook_clear,
    .tp_dealloc = (destructor)hook_dealloc,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "inspector._hooks",
    "The receive() and send() the middleware hands the app, in C.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__hooks(void)
{
    if (PyType_Ready(&ReceivingType) < 0 || PyType_Ready(&SendHookType) < 0 ||
        PyType_Ready(&ReceiveHookType) < 0 || PyType_Ready(&CaptureType) < 0)
        return NULL;
    receive_kind = PyUnicode_InternFromString("receive");
    send_kind = PyUnicode_InternFromString("send");
    if (receive_kind == NULL || send_kind == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObject(module, "Capture", Py_NewRef((PyObject *)&CaptureType)) < 0) {
        Py_DECREF(&CaptureType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
