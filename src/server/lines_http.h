/*
 * lines_http.h — POST /v1/lines/NAME (lines_http.c): one record through a line on `belt serve`.
 */
#ifndef BELT_SERVER_LINES_HTTP_H
#define BELT_SERVER_LINES_HTTP_H

struct srv_loop;
struct evhttp_request;

/* The endpoint handler (a belt__srv_handler_fn of the endpoint table). */
void belt__srv_handle_lines(struct srv_loop *sl, struct evhttp_request *hr, int ep);

#endif
