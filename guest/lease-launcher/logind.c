/* A logind stub for one session: Manager, Session and Seat objects with the
 * methods and properties libseat (backend/logind.c) and Mutter
 * (meta-launcher) call to take devices. Everything on the private bus
 * belongs to the one desktop, so any caller is that session's. */
#include "logind.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define LOGIND_NAME "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define SEAT_ID "seat0"
#define SEAT_PATH LOGIND_PATH "/seat/" SEAT_ID
#define DRM_MAJOR 226
#define INPUT_MAJOR 13
#define MAX_DEVICES 64

static const char introspection[] =
    "<node>"
    " <interface name='org.freedesktop.login1.Manager'>"
    "  <method name='GetSession'><arg type='s' direction='in'/><arg type='o' direction='out'/></method>"
    "  <method name='GetSessionByPID'><arg type='u' direction='in'/><arg type='o' direction='out'/></method>"
    "  <method name='GetSeat'><arg type='s' direction='in'/><arg type='o' direction='out'/></method>"
    "  <method name='ListSessions'><arg type='a(susso)' direction='out'/></method>"
    "  <method name='ListSeats'><arg type='a(so)' direction='out'/></method>"
    "  <method name='Inhibit'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
    "   <arg type='s' direction='in'/><arg type='s' direction='in'/><arg type='h' direction='out'/></method>"
    "  <signal name='PrepareForSleep'><arg type='b'/></signal>"
    "  <signal name='PrepareForShutdown'><arg type='b'/></signal>"
    " </interface>"
    " <interface name='org.freedesktop.login1.Session'>"
    "  <method name='TakeControl'><arg type='b' direction='in'/></method>"
    "  <method name='ReleaseControl'/>"
    "  <method name='TakeDevice'><arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "   <arg type='h' direction='out'/><arg type='b' direction='out'/></method>"
    "  <method name='ReleaseDevice'><arg type='u' direction='in'/><arg type='u' direction='in'/></method>"
    "  <method name='PauseDeviceComplete'><arg type='u' direction='in'/><arg type='u' direction='in'/></method>"
    "  <method name='Activate'/>"
    "  <method name='SetType'><arg type='s' direction='in'/></method>"
    "  <method name='SetIdleHint'><arg type='b' direction='in'/></method>"
    "  <method name='SetLockedHint'><arg type='b' direction='in'/></method>"
    "  <signal name='PauseDevice'><arg type='u'/><arg type='u'/><arg type='s'/></signal>"
    "  <signal name='ResumeDevice'><arg type='u'/><arg type='u'/><arg type='h'/></signal>"
    "  <signal name='Lock'/><signal name='Unlock'/>"
    "  <property name='Id' type='s' access='read'/>"
    "  <property name='User' type='(uo)' access='read'/>"
    "  <property name='Name' type='s' access='read'/>"
    "  <property name='Timestamp' type='t' access='read'/>"
    "  <property name='TimestampMonotonic' type='t' access='read'/>"
    "  <property name='VTNr' type='u' access='read'/>"
    "  <property name='Seat' type='(so)' access='read'/>"
    "  <property name='TTY' type='s' access='read'/>"
    "  <property name='Display' type='s' access='read'/>"
    "  <property name='Remote' type='b' access='read'/>"
    "  <property name='Service' type='s' access='read'/>"
    "  <property name='Desktop' type='s' access='read'/>"
    "  <property name='Leader' type='u' access='read'/>"
    "  <property name='Type' type='s' access='read'/>"
    "  <property name='Class' type='s' access='read'/>"
    "  <property name='Active' type='b' access='read'/>"
    "  <property name='State' type='s' access='read'/>"
    "  <property name='IdleHint' type='b' access='read'/>"
    "  <property name='LockedHint' type='b' access='read'/>"
    " </interface>"
    " <interface name='org.freedesktop.login1.Seat'>"
    "  <method name='SwitchTo'><arg type='u' direction='in'/></method>"
    "  <method name='ActivateSession'><arg type='s' direction='in'/></method>"
    "  <property name='Id' type='s' access='read'/>"
    "  <property name='ActiveSession' type='(so)' access='read'/>"
    "  <property name='CanGraphical' type='b' access='read'/>"
    "  <property name='CanTTY' type='b' access='read'/>"
    "  <property name='CanMultiSession' type='b' access='read'/>"
    "  <property name='Sessions' type='a(so)' access='read'/>"
    "  <property name='IdleHint' type='b' access='read'/>"
    " </interface>"
    "</node>";

struct device {
    unsigned major, minor;
};

struct logind {
    GDBusConnection *conn;
    GDBusNodeInfo *info;
    guint reg[3];
    struct logind_conf conf;
    char *session_path;
    char *user_name;
    char *type; /* SetType: wayland, x11... */
    char *controller; /* the unique bus name that took control */
    unsigned lease_major, lease_minor;
    struct device dev[MAX_DEVICES];
    unsigned ndev;
    unsigned drm_taken;
    guint64 start_real_us, start_mono_us;
};

static GVariant *session_ref(const struct logind *l)
{
    return g_variant_new("(so)", l->conf.session_id, l->session_path);
}

/* An error reply; fmt has at most one %s, arg. */
static void fail(GDBusMethodInvocation *inv, const char *name, const char *fmt, const char *arg)
{
    char *m = g_strdup_printf(fmt, arg ? arg : "");
    g_dbus_method_invocation_return_dbus_error(inv, name, m);
    g_free(m);
}

/* /dev path of a character device, from sysfs's uevent DEVNAME; NULL if
 * there is none. */
static char *dev_path(unsigned major, unsigned minor)
{
    char p[64], *text = NULL, *path = NULL;
    snprintf(p, sizeof p, "/sys/dev/char/%u:%u/uevent", major, minor);
    if (!g_file_get_contents(p, &text, NULL, NULL))
        return NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "DEVNAME=", 8) == 0)
            path = g_strconcat("/dev/", line + 8, NULL);
    g_free(text);
    return path;
}

/* An input device is this desktop's if its uniq (the QEMU device's
 * serial) names this head: guest/qemu-args --input binds
 * serial=hfx-head-N devices to head N. */
static bool input_is_ours(const struct logind *l, unsigned minor)
{
    char p[80], *uniq = NULL, want[32];
    snprintf(p, sizeof p, "/sys/dev/char/%u:%u/device/uniq", INPUT_MAJOR, minor);
    snprintf(want, sizeof want, "hfx-head-%u", l->conf.head);
    bool ours = g_file_get_contents(p, &uniq, NULL, NULL) && strcmp(g_strstrip(uniq), want) == 0;
    g_free(uniq);
    return ours;
}

/* Opens what TakeDevice hands out: a dup of the lease fd for the leased
 * card; the device node for a render node (unprivileged anyway) and for
 * this head's input devices. -1 with *why. */
static int take_fd(struct logind *l, unsigned major, unsigned minor, const char **why)
{
    if (major == l->lease_major && minor == l->lease_minor) {
        int fd = fcntl(l->conf.lease_fd, F_DUPFD_CLOEXEC, 0);
        *why = "cannot dup the lease fd";
        if (fd >= 0)
            l->drm_taken++;
        return fd;
    }
    bool ok = (major == DRM_MAJOR && minor >= 128) ||
              (major == INPUT_MAJOR && input_is_ours(l, minor));
    if (!ok) {
        *why = major == DRM_MAJOR ? "only the leased card is served"
               : major == INPUT_MAJOR ? "this input device belongs to no head of this desktop"
                                      : "only DRM and input devices are served";
        return -1;
    }
    char *path = dev_path(major, minor);
    int fd = path ? open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) : -1;
    *why = path ? "cannot open the device" : "no such device";
    g_free(path);
    return fd;
}

static int find_dev(const struct logind *l, unsigned major, unsigned minor)
{
    for (unsigned i = 0; i < l->ndev; i++)
        if (l->dev[i].major == major && l->dev[i].minor == minor)
            return (int)i;
    return -1;
}

static void session_call(struct logind *l, const char *sender, const char *method,
                         GVariant *params, GDBusMethodInvocation *inv)
{
    if (strcmp(method, "TakeControl") == 0) {
        if (l->controller && strcmp(l->controller, sender) != 0) {
            fail(inv, "org.freedesktop.login1.ResourceBusy", "the session has a controller", NULL);
            return;
        }
        g_free(l->controller);
        l->controller = g_strdup(sender);
    } else if (strcmp(method, "ReleaseControl") == 0) {
        g_clear_pointer(&l->controller, g_free);
        l->ndev = 0;
    } else if (strcmp(method, "TakeDevice") == 0) {
        guint32 major, minor;
        g_variant_get(params, "(uu)", &major, &minor);
        if (!l->controller || strcmp(l->controller, sender) != 0) {
            fail(inv, "org.freedesktop.login1.NotInControl", "take control first", NULL);
            return;
        }
        if (find_dev(l, major, minor) >= 0) {
            fail(inv, "org.freedesktop.login1.DeviceIsTaken", "the device is taken already", NULL);
            return;
        }
        const char *why = "";
        int fd = l->ndev < MAX_DEVICES ? take_fd(l, major, minor, &why) : -1;
        if (l->ndev >= MAX_DEVICES)
            why = "too many devices";
        if (l->conf.on_take)
            l->conf.on_take(major, minor, major == l->lease_major && minor == l->lease_minor,
                            fd < 0 ? why : NULL, l->conf.data);
        if (fd < 0) {
            char *m = g_strdup_printf("%u:%u: %s", major, minor, why);
            fail(inv, "org.freedesktop.DBus.Error.AccessDenied", "%s", m);
            g_free(m);
            return;
        }
        l->dev[l->ndev++] = (struct device){ major, minor };
        GUnixFDList *fds = g_unix_fd_list_new_from_array(&fd, 1); /* takes fd */
        g_dbus_method_invocation_return_value_with_unix_fd_list(
            inv, g_variant_new("(hb)", 0, FALSE), fds);
        g_object_unref(fds);
        return;
    } else if (strcmp(method, "ReleaseDevice") == 0 ||
               strcmp(method, "PauseDeviceComplete") == 0) {
        guint32 major, minor;
        g_variant_get(params, "(uu)", &major, &minor);
        int i = find_dev(l, major, minor);
        if (i < 0) {
            fail(inv, "org.freedesktop.login1.DeviceNotTaken", "the device is not taken", NULL);
            return;
        }
        if (method[0] == 'R')
            l->dev[i] = l->dev[--l->ndev];
    } else if (strcmp(method, "SetType") == 0) {
        const char *t;
        g_variant_get(params, "(&s)", &t);
        g_free(l->type);
        l->type = g_strdup(t);
    }
    /* Activate, SetIdleHint, SetLockedHint: the session is always active. */
    g_dbus_method_invocation_return_value(inv, NULL);
}

static void manager_call(struct logind *l, const char *method, GVariant *params,
                         GDBusMethodInvocation *inv)
{
    if (strcmp(method, "GetSession") == 0) {
        const char *id;
        g_variant_get(params, "(&s)", &id);
        if (*id && strcmp(id, "auto") != 0 && strcmp(id, "self") != 0 &&
            strcmp(id, l->conf.session_id) != 0) {
            fail(inv, "org.freedesktop.login1.NoSuchSession", "no session '%s'", id);
            return;
        }
        g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", l->session_path));
    } else if (strcmp(method, "GetSessionByPID") == 0) {
        g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", l->session_path));
    } else if (strcmp(method, "GetSeat") == 0) {
        const char *id;
        g_variant_get(params, "(&s)", &id);
        if (*id && strcmp(id, "auto") != 0 && strcmp(id, "self") != 0 &&
            strcmp(id, SEAT_ID) != 0) {
            fail(inv, "org.freedesktop.login1.NoSuchSeat", "no seat '%s'", id);
            return;
        }
        g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", SEAT_PATH));
    } else if (strcmp(method, "ListSessions") == 0) {
        GVariantBuilder b;
        g_variant_builder_init(&b, G_VARIANT_TYPE("a(susso)"));
        g_variant_builder_add(&b, "(susso)", l->conf.session_id, (guint32)l->conf.uid, l->user_name,
                              SEAT_ID, l->session_path);
        g_dbus_method_invocation_return_value(inv, g_variant_new("(a(susso))", &b));
    } else if (strcmp(method, "ListSeats") == 0) {
        GVariantBuilder b;
        g_variant_builder_init(&b, G_VARIANT_TYPE("a(so)"));
        g_variant_builder_add(&b, "(so)", SEAT_ID, SEAT_PATH);
        g_dbus_method_invocation_return_value(inv, g_variant_new("(a(so))", &b));
    } else if (strcmp(method, "Inhibit") == 0) {
        /* Nothing sleeps or shuts down here: the inhibitor is a pipe end the
         * caller holds and closes. */
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            fail(inv, "org.freedesktop.DBus.Error.Failed", "pipe: %s", g_strerror(errno));
            return;
        }
        close(p[1]);
        GUnixFDList *fds = g_unix_fd_list_new_from_array(&p[0], 1);
        g_dbus_method_invocation_return_value_with_unix_fd_list(inv, g_variant_new("(h)", 0), fds);
        g_object_unref(fds);
    }
}

static void on_call(GDBusConnection *conn, const char *sender, const char *path,
                    const char *iface, const char *method, GVariant *params,
                    GDBusMethodInvocation *inv, gpointer data)
{
    struct logind *l = data;
    if (strcmp(iface, "org.freedesktop.login1.Session") == 0) {
        session_call(l, sender, method, params, inv);
    } else if (strcmp(iface, "org.freedesktop.login1.Manager") == 0) {
        manager_call(l, method, params, inv);
    } else if (strcmp(method, "SwitchTo") == 0) {
        /* No virtual terminals: each desktop has its own head. */
        fail(inv, "org.freedesktop.DBus.Error.NotSupported", "there are no VTs to switch to",
             NULL);
    } else {
        g_dbus_method_invocation_return_value(inv, NULL); /* ActivateSession */
    }
}

static GVariant *session_prop(struct logind *l, const char *name)
{
    struct {
        const char *name;
        GVariant *v;
    } s[] = {
        { "Id", g_variant_new_string(l->conf.session_id) },
        { "Name", g_variant_new_string(l->user_name) },
        { "Timestamp", g_variant_new_uint64(l->start_real_us) },
        { "TimestampMonotonic", g_variant_new_uint64(l->start_mono_us) },
        { "VTNr", g_variant_new_uint32(0) },
        { "TTY", g_variant_new_string("") },
        { "Display", g_variant_new_string("") },
        { "Remote", g_variant_new_boolean(FALSE) },
        { "Service", g_variant_new_string("hfx-lease-launcher") },
        { "Desktop", g_variant_new_string("") },
        { "Leader", g_variant_new_uint32((guint32)l->conf.leader) },
        { "Type", g_variant_new_string(l->type) },
        { "Class", g_variant_new_string("user") },
        { "Active", g_variant_new_boolean(TRUE) },
        { "State", g_variant_new_string("active") },
        { "IdleHint", g_variant_new_boolean(FALSE) },
        { "LockedHint", g_variant_new_boolean(FALSE) },
    };
    GVariant *r = NULL;
    if (strcmp(name, "User") == 0) {
        char *up = g_strdup_printf(LOGIND_PATH "/user/_%u", (unsigned)l->conf.uid);
        r = g_variant_new("(uo)", (guint32)l->conf.uid, up);
        g_free(up);
    } else if (strcmp(name, "Seat") == 0) {
        r = g_variant_new("(so)", SEAT_ID, SEAT_PATH);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(s); i++) {
        if (!r && strcmp(name, s[i].name) == 0)
            r = s[i].v;
        else
            g_variant_unref(g_variant_ref_sink(s[i].v));
    }
    return r;
}

static GVariant *on_get(GDBusConnection *conn, const char *sender, const char *path,
                        const char *iface, const char *name, GError **err, gpointer data)
{
    struct logind *l = data;
    GVariant *r = NULL;
    if (strcmp(iface, "org.freedesktop.login1.Session") == 0) {
        r = session_prop(l, name);
    } else if (strcmp(iface, "org.freedesktop.login1.Seat") == 0) {
        if (strcmp(name, "Id") == 0) {
            r = g_variant_new_string(SEAT_ID);
        } else if (strcmp(name, "ActiveSession") == 0) {
            r = session_ref(l);
        } else if (strcmp(name, "Sessions") == 0) {
            GVariantBuilder b;
            g_variant_builder_init(&b, G_VARIANT_TYPE("a(so)"));
            g_variant_builder_add_value(&b, session_ref(l));
            r = g_variant_builder_end(&b);
        } else {
            /* CanGraphical yes; CanTTY, CanMultiSession, IdleHint no. */
            r = g_variant_new_boolean(strcmp(name, "CanGraphical") == 0);
        }
    }
    if (!r)
        g_set_error(err, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
    return r;
}

static const GDBusInterfaceVTable vtable = { on_call, on_get, NULL, { 0 } };

struct logind *logind_start(GDBusConnection *conn, const struct logind_conf *conf,
                            GError **err)
{
    struct stat st;
    if (fstat(conf->lease_fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "the lease fd is no character device");
        return NULL;
    }
    struct logind *l = g_new0(struct logind, 1);
    l->conn = g_object_ref(conn);
    l->conf = *conf;
    l->lease_major = major(st.st_rdev);
    l->lease_minor = minor(st.st_rdev);
    l->type = g_strdup("wayland");
    struct passwd *pw = getpwuid(conf->uid);
    l->user_name = g_strdup(pw ? pw->pw_name : "user");
    l->start_real_us = (guint64)g_get_real_time();
    l->start_mono_us = (guint64)g_get_monotonic_time();
    /* Object paths escape anything but letters and digits; a session id is
     * only those (sd-login refuses others). */
    l->session_path = g_strconcat(LOGIND_PATH "/session/", conf->session_id, NULL);
    l->info = g_dbus_node_info_new_for_xml(introspection, err);
    if (!l->info)
        goto fail;
    const char *paths[3] = { LOGIND_PATH, l->session_path, SEAT_PATH };
    for (int i = 0; i < 3; i++) {
        l->reg[i] = g_dbus_connection_register_object(conn, paths[i], l->info->interfaces[i],
                                                      &vtable, l, NULL, err);
        if (!l->reg[i])
            goto fail;
    }
    /* Owned before the compositor starts, so its first call finds it. */
    GVariant *r = g_dbus_connection_call_sync(
        conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "RequestName", g_variant_new("(su)", LOGIND_NAME, 4u /* DO_NOT_QUEUE */),
        G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, err);
    if (!r)
        goto fail;
    guint32 owner;
    g_variant_get(r, "(u)", &owner);
    g_variant_unref(r);
    if (owner != 1) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s is owned already", LOGIND_NAME);
        goto fail;
    }
    return l;
fail:
    logind_stop(l);
    return NULL;
}

void logind_devices_gone(struct logind *l)
{
    for (unsigned i = 0; i < l->ndev; i++)
        g_dbus_connection_emit_signal(l->conn, NULL, l->session_path,
                                      "org.freedesktop.login1.Session", "PauseDevice",
                                      g_variant_new("(uus)", l->dev[i].major, l->dev[i].minor,
                                                    "gone"),
                                      NULL);
    g_dbus_connection_flush_sync(l->conn, NULL, NULL);
    l->ndev = 0;
}

unsigned logind_drm_taken(const struct logind *l)
{
    return l->drm_taken;
}

void logind_stop(struct logind *l)
{
    if (!l)
        return;
    for (int i = 0; i < 3; i++)
        if (l->reg[i])
            g_dbus_connection_unregister_object(l->conn, l->reg[i]);
    if (l->info)
        g_dbus_node_info_unref(l->info);
    g_object_unref(l->conn);
    g_free(l->session_path);
    g_free(l->user_name);
    g_free(l->type);
    g_free(l->controller);
    g_free(l);
}
