# Stand-in for the official nginx image: Debian's nginx, and the same start-up contract:
# /etc/nginx/templates/*.template rendered by envsubst into /etc/nginx/conf.d/, logs to stdout.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
