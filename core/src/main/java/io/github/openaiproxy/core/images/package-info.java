/**
 * SPI: the image store ({@link io.github.openaiproxy.core.images.ImageStore}) that keeps generated images after
 * the upstream's links expire, what it stores, and core's filesystem and JDBC stores.
 */
package io.github.openaiproxy.core.images;
